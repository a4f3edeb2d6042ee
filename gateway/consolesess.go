package gateway

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/optin"
)

// ConsoleSessions keeps the support console's sessions on the server
// side (the store implements it in Redis): the cookie holds only a random
// id, so that signing out, revoking the token and an idle timeout end a
// session for every copy of its cookie, on every gateway.
type ConsoleSessions interface {
	// OpenConsoleSession stores sess under the session id id, alive while
	// it is used at least once every idle and at most max after
	// sess.Created.
	OpenConsoleSession(ctx context.Context, id string, sess optin.ConsoleSession, idle, max time.Duration) error
	// TouchConsoleSession returns the session of id and marks it seen at
	// now; ok is false when there is none or it has ended (idle, or older
	// than max), and an ended one is deleted.
	TouchConsoleSession(ctx context.Context, id string, now time.Time, idle, max time.Duration) (sess optin.ConsoleSession, ok bool, err error)
	// CloseConsoleSession deletes the session of id, opened with tokenID.
	CloseConsoleSession(ctx context.Context, id, tokenID string) error
	// CloseTokenConsoleSessions deletes every session opened with tokenID
	// and returns how many were live.
	CloseTokenConsoleSessions(ctx context.Context, tokenID string) (int, error)
}

// Console session limits.
const (
	// DefaultConsoleIdleTimeout ends a console session not used for that
	// long (Options.Console.Idle).
	DefaultConsoleIdleTimeout = 30 * time.Minute
	// ConsoleSessionMax ends every console session that long after sign-in,
	// however busy.
	ConsoleSessionMax = 8 * time.Hour
	// consoleIDBytes is the size of a session id, drawn from Options.Rand.
	consoleIDBytes = 32
)

// consoleSession is a live session as a request sees it.
type consoleSession struct {
	ID      string // the cookie's value
	TokenID string // "operator" or the id of the token it was opened with
	Tenant  string
	CSRF    []byte // the secret the forms' tokens derive from
}

// consoleIdle is the idle timeout of console sessions.
func (s *Server) consoleIdle() time.Duration {
	if s.opts.Console.Idle > 0 {
		return min(s.opts.Console.Idle, ConsoleSessionMax)
	}
	return DefaultConsoleIdleTimeout
}

// validConsoleID reports whether a cookie value can be a session id, so
// that nothing else reaches the store.
func validConsoleID(v string) bool {
	if len(v) != base64.RawURLEncoding.EncodedLen(consoleIDBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil
}

// openConsoleSession stores a new session of principal p (signed in with
// tok) on tenant and returns its id, for the cookie.
func (s *Server) openConsoleSession(ctx context.Context, p principal, tok, tenant string) (string, error) {
	buf := make([]byte, consoleIDBytes+32)
	if _, err := io.ReadFull(s.opts.Rand, buf); err != nil {
		return "", err
	}
	id := base64.RawURLEncoding.EncodeToString(buf[:consoleIDBytes])
	rec := optin.ConsoleSession{TokenID: p.actor, TokenHash: sha256Hex(tok), Tenant: tenant,
		CSRF: buf[consoleIDBytes:], Created: s.opts.Now(), LastSeen: s.opts.Now()}
	if err := s.opts.Console.Sessions.OpenConsoleSession(ctx, id, rec, s.consoleIdle(), ConsoleSessionMax); err != nil {
		return "", err
	}
	return id, nil
}

// touchConsoleSession returns the live session of the request's cookie
// and its principal, authenticated again: the token it was opened with
// must still exist, unchanged, and its tenant too. ok is false when there
// is no live session; one whose token is gone is closed.
func (s *Server) touchConsoleSession(c echo.Context) (consoleSession, principal, bool, error) {
	ck, err := c.Cookie(consoleCookie)
	if err != nil || !validConsoleID(ck.Value) {
		return consoleSession{}, principal{}, false, nil
	}
	ctx := c.Request().Context()
	rec, ok, err := s.opts.Console.Sessions.TouchConsoleSession(ctx, ck.Value, s.opts.Now(), s.consoleIdle(), ConsoleSessionMax)
	if err != nil || !ok {
		return consoleSession{}, principal{}, false, err
	}
	sess := consoleSession{ID: ck.Value, TokenID: rec.TokenID, Tenant: rec.Tenant, CSRF: rec.CSRF}
	p, ok, err := s.sessionPrincipal(ctx, rec)
	if err != nil {
		return consoleSession{}, principal{}, false, err
	}
	if !ok {
		s.security(c, "console_session_ended")
		if err := s.opts.Console.Sessions.CloseConsoleSession(ctx, sess.ID, sess.TokenID); err != nil {
			logFields(c, zap.NamedError("close_error", err))
		}
		return consoleSession{}, principal{}, false, nil
	}
	return sess, p, true, nil
}

// sessionPrincipal is the principal of a session's token: the operator
// while OPTIN_ADMIN_TOKEN is the one it was opened with, or the tenant
// token of that id and hash, as principalOf finds it.
func (s *Server) sessionPrincipal(ctx context.Context, rec optin.ConsoleSession) (principal, bool, error) {
	if rec.TokenID == actorOperator {
		ok := subtle.ConstantTimeCompare([]byte(rec.TokenHash), []byte(sha256Hex(s.opts.AdminToken))) == 1
		return principal{actor: actorOperator, operator: true}, ok, nil
	}
	return s.tokenPrincipal(ctx, rec.TokenID, rec.TokenHash)
}

// tokenPrincipal is the principal of the tenant token id whose secret
// hashes to hash; ok is false when there is none (or its tenant is gone).
func (s *Server) tokenPrincipal(ctx context.Context, id, hash string) (principal, bool, error) {
	if s.opts.Services.Config == nil {
		return principal{}, false, nil
	}
	raw, err := s.opts.Services.Config.ConfigGet(ctx, optin.ConfigRef{Object: optin.ObjectToken, ID: id})
	if errors.Is(err, optin.ErrNotFound) {
		return principal{}, false, nil
	}
	if err != nil {
		return principal{}, false, err
	}
	var doc optin.TokenDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return principal{}, false, err
	}
	if subtle.ConstantTimeCompare([]byte(hash), []byte(doc.Hash)) != 1 {
		return principal{}, false, nil
	}
	if _, ok := s.snap().set.Tenants[doc.Tenant]; !ok {
		return principal{}, false, nil // its tenant was deleted
	}
	return principal{actor: doc.ID, tenant: doc.Tenant, role: doc.Role}, true, nil
}

// closeTokenSessions ends the console sessions of a revoked token. The
// token is gone already, so a failure here leaves no session usable (each
// request checks the token); it is logged, not returned.
func (s *Server) closeTokenSessions(c echo.Context, tokenID string) {
	if s.opts.Console.Sessions == nil {
		return
	}
	n, err := s.opts.Console.Sessions.CloseTokenConsoleSessions(c.Request().Context(), tokenID)
	if err != nil {
		logFields(c, zap.NamedError("console_sessions_error", err))
		return
	}
	logFields(c, zap.Int("console_sessions_closed", n))
}

// needConsoleSessions answers 404 when there is no session store: the
// console is not served without one.
func (s *Server) needConsoleSessions(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.opts.Console.Sessions == nil {
			return optin.ErrNotFound
		}
		return next(c)
	}
}
