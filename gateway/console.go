package gateway

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/internal/phone"
	"github.com/optin-gateway/optin-gateway/optin"
)

// The support console (README "Support console"): server-rendered pages
// under /console, no JavaScript. The session lives on the server side
// (ConsoleSessions, consolesess.go), its cookie a random id: signing out,
// revoking the token and an idle timeout end it for every copy of the
// cookie; every request checks the session's token again, so a revoked
// token ends the session at once. Without ConsoleSessions the console is
// not served. Phone numbers never appear in a URL: forms POST them, and
// the result page names the subscriber by a sealed handle.

//go:embed console/*.tmpl console/*.css
var consoleFS embed.FS

var consoleTmpl = template.Must(template.New("").Funcs(template.FuncMap{
	"visible": visibleText,
	"when":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}).ParseFS(consoleFS, "console/*.tmpl"))

// Console constants.
const (
	consoleCookie    = "optin_console"
	consolePath      = "/console"
	consolePurpose   = "console session v1" // the handles' key
	consoleHandleAAD = "console handle v1 "
	// consoleCSP is the Content-Security-Policy of every console page: no
	// script at all, styles and images from the gateway only.
	consoleCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

// consoleError is an error of the HTTP layer (base, which sets the
// status) with the message a console page shows.
type consoleError struct {
	base error
	msg  string
}

func (e consoleError) Error() string { return e.msg }
func (e consoleError) Unwrap() error { return e.base }

// Errors of the console.
var (
	errConsoleCSRF     = consoleError{errForbidden, "The form is stale or did not come from this console: reload the page and try again."}
	errConsoleSession  = consoleError{errUnauthorized, "Your session ended: sign in again."}
	errConsoleToken    = consoleError{errUnauthorized, "That token is not valid."}
	errConsoleOperator = consoleError{errUnauthorized, "The operator token needs the id of an existing tenant."}
	errConsoleRole     = consoleError{errForbidden, "Your role may not look subscribers up."}
	errConsoleSender   = consoleError{errForbidden, "A sender token may only check consent and read audiences through the API."}
)

// consoleSealer seals subscriber handles under a key derived from the
// server's key material.
type consoleSealer struct{ aead cipher.AEAD }

// newConsoleSealer derives the console key from master with HKDF-SHA256
// (purpose "console session v1"). Gateways that share master accept each
// other's handles.
func newConsoleSealer(master []byte) (*consoleSealer, error) {
	key, err := hkdf.Key(sha256.New, master, nil, consolePurpose, 32)
	if err != nil {
		return nil, fmt.Errorf("gateway: console key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &consoleSealer{aead: aead}, nil
}

func (cs *consoleSealer) seal(r io.Reader, plain []byte, aad string) (string, error) {
	nonce := make([]byte, cs.aead.NonceSize())
	if _, err := io.ReadFull(r, nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(cs.aead.Seal(nonce, nonce, plain, []byte(aad))), nil
}

func (cs *consoleSealer) open(sealed, aad string) ([]byte, bool) {
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(b) < cs.aead.NonceSize() {
		return nil, false
	}
	plain, err := cs.aead.Open(nil, b[:cs.aead.NonceSize()], b[cs.aead.NonceSize():], []byte(aad))
	return plain, err == nil
}

// csrfToken is the token of a form posting to action in session sess.
func csrfToken(sess consoleSession, action string) string {
	m := hmac.New(sha256.New, sess.CSRF)
	m.Write([]byte(action))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// consoleHeaders sets the console's security headers on every answer.
func consoleHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", consoleCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		return next(c)
	}
}

// consoleView is the data of every console page.
type consoleView struct {
	Title   string
	Status  int
	Error   string
	Notice  string
	Signed  bool
	Actor   string
	Role    string
	Tenant  string
	CSRF    map[string]string // by form action
	Sub     *consoleSubscriber
	Support bool // the role may look subscribers up
}

// consoleSubscriber is the subscriber page's data.
type consoleSubscriber struct {
	Handle     string
	Phone      string // masked, or whole once revealed
	Revealed   bool
	Pseudonym  string
	Campaigns  []consoleCampaign
	Timeline   []optin.Event
	Revocation []revocationView
}

type consoleCampaign struct {
	ID        string
	State     optin.State
	ChangedAt *time.Time
}

// consoleActions are the console's forms that need a session.
var consoleActions = []string{"/console/search", "/console/reveal", "/console/opt-out", "/console/sign-out"}

// render writes page name with v.
func (s *Server) consoleRender(c echo.Context, name string, v consoleView) error {
	if v.Status == 0 {
		v.Status = http.StatusOK
	}
	var b strings.Builder
	if err := consoleTmpl.ExecuteTemplate(&b, name, v); err != nil {
		return err
	}
	return c.HTML(v.Status, b.String())
}

// consoleFail renders err as a page: the sign-in page for a missing or
// ended session, else the page of the session with the error shown.
func (s *Server) consoleFail(c echo.Context, v consoleView, err error) error {
	status := statusOf(err)
	logFields(c, zap.Error(err))
	msg := err.Error()
	switch {
	case status >= 500:
		msg = "The gateway could not do that now; retry in a moment."
		if status == http.StatusServiceUnavailable {
			c.Response().Header().Set("Retry-After", retryAfter)
		}
	case status == http.StatusNotFound:
		msg = "Not found."
	case status == http.StatusTooManyRequests:
		msg = "Too many failed sign-ins from here: wait a minute."
	}
	var fe *optin.FieldError
	if errors.As(err, &fe) {
		msg = fe.Msg
	}
	v.Status, v.Error = status, msg
	if status == http.StatusUnauthorized || !v.Signed {
		if status == http.StatusUnauthorized {
			s.clearConsoleCookie(c) // a store that is down ends no session
		}
		v = consoleView{Title: "Sign in", Status: status, Error: msg}
		return s.consoleRender(c, "signin", v)
	}
	return s.consoleRender(c, "search", v)
}

// consoleSessionOf finds the request's live session and authenticates
// its token again. ok is false when there is no live session.
func (s *Server) consoleSessionOf(c echo.Context) (consoleSession, principal, bool, error) {
	sess, p, ok, err := s.touchConsoleSession(c)
	if err != nil || !ok {
		return consoleSession{}, principal{}, false, err
	}
	if _, exists := s.snap().tenants[sess.Tenant]; !exists || (!p.operator && p.tenant != sess.Tenant) {
		return consoleSession{}, principal{}, false, nil
	}
	c.Set(principalKey, p)
	logFields(c, zap.String("actor", p.actor), zap.String("tenant", sess.Tenant))
	return sess, p, true, nil
}

// sessionView is the page data of a signed-in session.
func (s *Server) sessionView(sess consoleSession, p principal, title string) consoleView {
	v := consoleView{Title: title, Signed: true, Actor: p.actor, Role: string(p.roleName()), Tenant: sess.Tenant,
		CSRF: map[string]string{}, Support: p.operator || p.role == optin.RoleSupport}
	for _, a := range consoleActions {
		v.CSRF[a] = csrfToken(sess, a)
	}
	return v
}

// sameOrigin reports whether a POST may come from the console's own pages:
// Sec-Fetch-Site, when sent, is same-origin; Origin, when sent, names this
// host (or the public URL's), or is "null" with Sec-Fetch-Site
// same-origin.
func (s *Server) sameOrigin(c echo.Context) bool {
	req := c.Request()
	site := req.Header.Get("Sec-Fetch-Site")
	if site != "" && site != "same-origin" {
		return false
	}
	origin := req.Header.Get(echo.HeaderOrigin)
	switch origin {
	case "":
		return true
	case "null":
		// Browsers send "null" under Referrer-Policy: no-referrer; only
		// Sec-Fetch-Site then tells where the form came from.
		return site == "same-origin"
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if u.Host == req.Host {
		return true
	}
	pub, err := url.Parse(s.opts.PublicURL)
	return err == nil && pub.Host != "" && u.Host == pub.Host
}

// consoleForm runs a POST of a signed-in session: the session must be
// live, the request same-origin and its CSRF token that of the action.
func (s *Server) consoleForm(c echo.Context) (consoleSession, principal, consoleView, error) {
	sess, p, ok, err := s.consoleSessionOf(c)
	if err != nil {
		return sess, p, consoleView{}, err
	}
	if !ok {
		return sess, p, consoleView{}, errConsoleSession
	}
	v := s.sessionView(sess, p, "Support console")
	want := csrfToken(sess, c.Path())
	if !s.sameOrigin(c) || !hmac.Equal([]byte(c.FormValue("csrf")), []byte(want)) {
		s.security(c, "console_csrf")
		return sess, p, v, errConsoleCSRF
	}
	return sess, p, v, nil
}

func (s *Server) setConsoleCookie(c echo.Context, value string) {
	c.SetCookie(&http.Cookie{
		Name: consoleCookie, Value: value, Path: consolePath, MaxAge: int(ConsoleSessionMax / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.Scheme() == "https",
	})
}

func (s *Server) clearConsoleCookie(c echo.Context) {
	c.SetCookie(&http.Cookie{
		Name: consoleCookie, Value: "", Path: consolePath, MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.Scheme() == "https",
	})
}

// handleConsoleGet shows the sign-in page, or the search page of a
// signed-in session.
func (s *Server) handleConsoleGet(c echo.Context) error {
	sess, p, ok, err := s.consoleSessionOf(c)
	if err != nil {
		return s.consoleFail(c, consoleView{}, err)
	}
	if !ok {
		if _, cerr := c.Cookie(consoleCookie); cerr == nil {
			s.clearConsoleCookie(c)
		}
		return s.consoleRender(c, "signin", consoleView{Title: "Sign in"})
	}
	return s.consoleRender(c, "search", s.sessionView(sess, p, "Support console"))
}

// handleConsoleCSSGet serves the console's style sheet.
func (s *Server) handleConsoleCSSGet(c echo.Context) error {
	b, err := consoleFS.ReadFile("console/console.css")
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, "text/css; charset=utf-8", b)
}

// handleConsoleSignInPost checks the token posted (and, for the
// operator, the tenant chosen) and starts a session.
func (s *Server) handleConsoleSignInPost(c echo.Context) error {
	fail := func(err error) error { return s.consoleFail(c, consoleView{}, err) }
	if !s.sameOrigin(c) {
		s.security(c, "console_csrf")
		return fail(errConsoleCSRF)
	}
	ip, now := c.RealIP(), s.opts.Now()
	if wait := s.authFails.blocked(ip, now); wait > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		s.security(c, "auth_rate_limited")
		return fail(errTooManyAuth)
	}
	tok := strings.TrimSpace(c.FormValue("token"))
	p, ok, err := s.principalOf(c.Request().Context(), "Bearer "+tok)
	if err != nil {
		return fail(err)
	}
	if !ok || tok == "" {
		s.authFails.fail(ip, now)
		s.security(c, "bad_token")
		return fail(errConsoleToken)
	}
	if p.role == optin.RoleSender || p.role == optin.RoleMetrics {
		// A sending system's token is for the consent routes only.
		s.security(c, "forbidden")
		return fail(errConsoleSender)
	}
	tenant := p.tenant
	if p.operator {
		tenant = strings.TrimSpace(c.FormValue("tenant"))
		if _, exists := s.snap().tenants[tenant]; !exists {
			return fail(errConsoleOperator)
		}
	}
	id, err := s.openConsoleSession(c.Request().Context(), p, tok, tenant)
	if err != nil {
		return fail(err)
	}
	s.setConsoleCookie(c, id)
	logFields(c, zap.String("actor", p.actor), zap.String("tenant", tenant), zap.String("outcome", "console_sign_in"))
	return c.Redirect(http.StatusSeeOther, consolePath)
}

// handleConsoleSignOutPost ends the session: deleted from the store, so
// that every copy of its cookie stops working.
func (s *Server) handleConsoleSignOutPost(c echo.Context) error {
	sess, _, v, err := s.consoleForm(c)
	if err != nil {
		return s.consoleFail(c, v, err)
	}
	if err := s.opts.Console.Sessions.CloseConsoleSession(c.Request().Context(), sess.ID, sess.TokenID); err != nil {
		return s.consoleFail(c, v, err)
	}
	s.clearConsoleCookie(c)
	logFields(c, zap.String("outcome", "console_sign_out"))
	return c.Redirect(http.StatusSeeOther, consolePath)
}

// consoleSubscriberOf is the phone of a support form: a "phone" typed in,
// or a sealed "handle" of this tenant. Only support (and the operator)
// may look subscribers up.
func (s *Server) consoleSubscriberOf(c echo.Context, sess consoleSession, p principal) (optin.Phone, error) {
	if !p.operator && p.role != optin.RoleSupport {
		s.security(c, "forbidden")
		return "", errConsoleRole
	}
	if h := c.FormValue("handle"); h != "" {
		plain, ok := s.console.open(h, consoleHandleAAD+sess.Tenant)
		if !ok {
			s.security(c, "console_bad_handle")
			return "", optin.ErrNotFound
		}
		return optin.Phone(plain), nil
	}
	num, err := phone.Parse(strings.TrimSpace(c.FormValue("phone")))
	if err != nil {
		return "", &optin.FieldError{Field: "phone", Msg: "Phone number: " + err.Error() + " (type it in international form: + then the country code and the number)"}
	}
	return num, nil
}

// consoleReason is the reason a form gave, required.
func consoleReason(c echo.Context, what string) (string, error) {
	r := strings.TrimSpace(c.FormValue("reason"))
	if r == "" {
		return "", &optin.FieldError{Field: "reason", Msg: "A reason is required to " + what + "."}
	}
	if len(r) > maxReasonLen {
		return "", &optin.FieldError{Field: "reason", Msg: fmt.Sprintf("The reason is longer than %d bytes.", maxReasonLen)}
	}
	return r, nil
}

// consolePage renders the subscriber page of p from view.
func (s *Server) consolePage(c echo.Context, sess consoleSession, v consoleView, p optin.Phone, view subscriberView, events []optin.Event, revealed bool, notice string) error {
	handle, err := s.console.seal(s.opts.Rand, []byte(p.E164()), consoleHandleAAD+sess.Tenant)
	if err != nil {
		return s.consoleFail(c, v, err)
	}
	sub := &consoleSubscriber{Handle: handle, Phone: view.PhoneMasked, Revealed: revealed, Pseudonym: view.Subscriber,
		Timeline: events, Revocation: view.Revocations}
	if revealed {
		sub.Phone = p.E164()
	}
	for _, cv := range view.Campaigns {
		sub.Campaigns = append(sub.Campaigns, consoleCampaign{ID: cv.Campaign, State: cv.State, ChangedAt: cv.ChangedAt})
	}
	v.Title, v.Sub, v.Notice = "Subscriber "+view.PhoneMasked, sub, notice
	return s.consoleRender(c, "search", v)
}

// handleConsoleSearchPost looks a number up, recording the reason typed.
func (s *Server) handleConsoleSearchPost(c echo.Context) error {
	return s.consoleSubscriberAction(c, "look a number up", optin.AccessLookup, false)
}

// handleConsoleRevealPost shows the whole number, recording the reason.
func (s *Server) handleConsoleRevealPost(c echo.Context) error {
	return s.consoleSubscriberAction(c, "reveal the number", optin.AccessReveal, true)
}

// consoleSubject checks a subscriber form (session, CSRF, role) and
// returns the number it names.
func (s *Server) consoleSubject(c echo.Context) (consoleSession, consoleView, optin.Phone, error) {
	sess, p, v, err := s.consoleForm(c)
	if err != nil {
		return sess, v, "", err
	}
	num, err := s.consoleSubscriberOf(c, sess, p)
	if err != nil {
		return sess, v, "", err
	}
	logFields(c, zap.Stringer("phone", num))
	return sess, v, num, nil
}

// consoleSubscriberAction is a search or a reveal: it records action with
// the reason given and renders the subscriber page.
func (s *Server) consoleSubscriberAction(c echo.Context, what, action string, reveal bool) error {
	sess, v, num, err := s.consoleSubject(c)
	if err != nil {
		return s.consoleFail(c, v, err)
	}
	reason, err := consoleReason(c, what)
	if err != nil {
		return s.consoleFail(c, v, err)
	}
	view, events, err := s.lookup(c, sess.Tenant, s.snap().tenants[sess.Tenant], num, "")
	if err != nil {
		return s.consoleFail(c, v, err)
	}
	if err := s.recordAccessIn(c, sess.Tenant, action, view.Subscriber, reason); err != nil {
		return s.consoleFail(c, v, err)
	}
	return s.consolePage(c, sess, v, num, view, events, reveal, "")
}

// handleConsoleOptOutPost opts the subscriber out by hand, through the
// admin API's own code path, and shows the new state.
func (s *Server) handleConsoleOptOutPost(c echo.Context) error {
	sess, v, num, err := s.consoleSubject(c)
	if err != nil {
		return s.consoleFail(c, v, err)
	}
	reason, err := consoleReason(c, "opt someone out")
	if err != nil {
		return s.consolePageAfter(c, sess, v, num, err)
	}
	campaign := c.FormValue("campaign")
	if campaign == "*" {
		campaign = ""
	}
	campaigns := s.snap().tenants[sess.Tenant]
	if _, err := s.optOut(c, sess.Tenant, campaigns, num, campaign, reason); err != nil {
		return s.consolePageAfter(c, sess, v, num, err)
	}
	view, events, err := s.lookup(c, sess.Tenant, campaigns, num, "")
	if err != nil {
		return s.consoleFail(c, v, err)
	}
	what := "every campaign"
	if campaign != "" {
		what = "campaign " + campaign
	}
	return s.consolePage(c, sess, v, num, view, events, false, "Opted out of "+what+".")
}

// consolePageAfter shows the subscriber page again with a form's error,
// so that what the agent was looking at is not lost.
func (s *Server) consolePageAfter(c echo.Context, sess consoleSession, v consoleView, num optin.Phone, ferr error) error {
	view, events, err := s.lookup(c, sess.Tenant, s.snap().tenants[sess.Tenant], num, "")
	if err != nil {
		return s.consoleFail(c, v, err)
	}
	logFields(c, zap.Error(ferr))
	v.Status, v.Error = statusOf(ferr), ferr.Error()
	var fe *optin.FieldError
	if errors.As(ferr, &fe) {
		v.Error = fe.Msg
	}
	return s.consolePage(c, sess, v, num, view, events, false, "")
}

// visibleText shows the control and format characters of a subscriber's
// text instead of passing them on: C0 controls (but newline and tab) and
// DEL as \xHH (ESC as \x1b), other controls and format characters (bidi
// overrides, zero-width) as \u{XXXX}. html/template escapes the rest.
func visibleText(s string) string {
	if !strings.ContainsFunc(s, isInvisible) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case isInvisible(r):
			fmt.Fprintf(&b, `\u{%04X}`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isInvisible(r rune) bool { return unicode.IsControl(r) || unicode.In(r, unicode.Cf) }
