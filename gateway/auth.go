package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/optin"
)

// Limits of failed authentications per client IP.
const (
	DefaultAuthFailures = 10
	DefaultAuthWindow   = time.Minute
	// maxLimiterIPs bounds the limiter's memory: beyond it, windows that
	// ended are dropped.
	maxLimiterIPs = 10000
)

// Actor of the operator token.
const actorOperator = "operator"

// principal is who a request of the admin API comes from.
type principal struct {
	actor    string     // "operator" or the token id
	tenant   string     // the token's tenant; "" for the operator
	role     optin.Role // the token's role; "" for the operator
	operator bool
}

const principalKey = "principal"

// who returns the request's principal (set by authenticate).
func who(c echo.Context) principal {
	p, _ := c.Get(principalKey).(principal)
	return p
}

// roleName is the role recorded in the access log.
func (p principal) roleName() optin.Role {
	if p.operator {
		return "operator"
	}
	return p.role
}

// authenticate lets a request through with the operator's token or a
// live token of a tenant; it answers 401 otherwise, and 429 while the
// client IP has failed too often. A tenant's token asking about another
// tenant gets 404, as for a tenant that does not exist. Both are logged
// as security events.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ip := c.RealIP()
		now := s.opts.Now()
		if wait := s.authFails.blocked(ip, now); wait > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
			s.security(c, "auth_rate_limited")
			return errTooManyAuth
		}
		p, ok, err := s.principalOf(c.Request().Context(), c.Request().Header.Get(echo.HeaderAuthorization))
		if err != nil {
			return err
		}
		if !ok {
			s.authFails.fail(ip, now)
			s.security(c, "bad_token")
			return errUnauthorized
		}
		c.Set(principalKey, p)
		markAuthenticated(c)
		logFields(c, zap.String("actor", p.actor))
		if t := c.Param("tenant"); t != "" && !p.operator && t != p.tenant {
			s.security(c, "cross_tenant")
			return optin.ErrNotFound
		}
		return next(c)
	}
}

// principalOf reads an Authorization header's bearer token: the
// operator's, or a tenant token whose hash the store holds and whose
// tenant exists. The admin API and the support console both authenticate
// through it.
func (s *Server) principalOf(ctx context.Context, got string) (principal, bool, error) {
	if subtle.ConstantTimeCompare([]byte(got), s.adminAuth) == 1 {
		return principal{actor: actorOperator, operator: true}, true, nil
	}
	tok, ok := strings.CutPrefix(got, "Bearer ")
	if !ok {
		return principal{}, false, nil
	}
	id, ok := tokenID(tok)
	if !ok {
		return principal{}, false, nil
	}
	return s.tokenPrincipal(ctx, id, sha256Hex(tok))
}

// Token formats: the id "tok_<16 hex>", the token "ogt_<16 hex>_<43
// base64url>" (32 random bytes).
const (
	tokenIDPrefix = "tok_"
	tokenPrefix   = "ogt_"
	tokenIDHex    = 16
	tokenSecret   = 32
)

// tokenID returns the id a token names.
func tokenID(tok string) (string, bool) {
	rest, ok := strings.CutPrefix(tok, tokenPrefix)
	if !ok || len(rest) != tokenIDHex+1+base64.RawURLEncoding.EncodedLen(tokenSecret) || rest[tokenIDHex] != '_' {
		return "", false
	}
	if _, err := hex.DecodeString(rest[:tokenIDHex]); err != nil {
		return "", false
	}
	return tokenIDPrefix + rest[:tokenIDHex], true
}

// newToken draws a token and its id from r.
func newToken(r io.Reader) (id, token string, err error) {
	b := make([]byte, tokenIDHex/2+tokenSecret)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", "", err
	}
	idPart := hex.EncodeToString(b[:tokenIDHex/2])
	return tokenIDPrefix + idPart, tokenPrefix + idPart + "_" + base64.RawURLEncoding.EncodeToString(b[tokenIDHex/2:]), nil
}

// allow lets a request through when its principal has one of roles (the
// operator has them all); 403 otherwise, logged as a security event.
func (s *Server) allow(roles ...optin.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p := who(c)
			if !p.operator && !slices.Contains(roles, p.role) {
				s.security(c, "forbidden")
				return errForbidden
			}
			return next(c)
		}
	}
}

// operatorOnly lets only the operator through.
func (s *Server) operatorOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return s.allow()(next)
}

// security logs and counts a security event of kind.

// failLimiter counts failed authentications per client IP in fixed
// windows: after max failures in a window, the IP is refused until the
// window ends. It is safe for concurrent use.
type failLimiter struct {
	max    int
	window time.Duration
	mu     sync.Mutex
	ips    map[string]*failWindow
}

type failWindow struct {
	start time.Time
	n     int
}

func newFailLimiter(max int, window time.Duration) *failLimiter {
	return &failLimiter{max: max, window: window, ips: map[string]*failWindow{}}
}

// blocked returns how long ip stays refused at now; 0 when it is not.
func (l *failLimiter) blocked(ip string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.ips[ip]
	if w == nil || w.n < l.max {
		return 0
	}
	if end := w.start.Add(l.window); now.Before(end) {
		return end.Sub(now)
	}
	delete(l.ips, ip)
	return 0
}

// fail counts a failed authentication of ip at now.
func (l *failLimiter) fail(ip string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.ips[ip]
	if w == nil || !now.Before(w.start.Add(l.window)) {
		if len(l.ips) >= maxLimiterIPs {
			for k, v := range l.ips {
				if !now.Before(v.start.Add(l.window)) {
					delete(l.ips, k)
				}
			}
		}
		w = &failWindow{start: now}
		l.ips[ip] = w
	}
	w.n++
}

// sha256Hex is the hex SHA-256 of a token, as the store keeps it.
func sha256Hex(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}
