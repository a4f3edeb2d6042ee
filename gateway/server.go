// Package gateway is the HTTP side of the gateway: provider webhooks, the
// admin API and health checks, on echo. It translates between HTTP and the
// optin domain; echo types never leave this package.
package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/internal/egress"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/provider"
	"github.com/optin-gateway/optin-gateway/provider/twilio"
)

// Store is what the gateway needs of persistence.
type Store interface {
	// Load returns the subscriber behind phone under tenant with the live
	// codes of campaigns and, when message in was processed before, its
	// stored reply; in one round trip.
	Load(ctx context.Context, tenant string, phone optin.Phone, campaigns []string, in optin.Inbound) (optin.Subscriber, []byte, error)
	// Apply writes dec atomically if prev is still current (optin.ErrConflict
	// otherwise) and in was not processed yet (optin.ErrDuplicate with the
	// stored reply otherwise).
	Apply(ctx context.Context, prev optin.Subscriber, dec optin.Decision, in optin.Inbound, reply []byte) (int64, []byte, error)
	// Lookup returns the subscriber behind phone and its latest events.
	Lookup(ctx context.Context, tenant string, phone optin.Phone) (optin.Subscriber, []optin.Event, error)
	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
}

// Defaults of Options.
const (
	DefaultMaxBodyBytes   = 64 << 10
	DefaultRequestTimeout = 5 * time.Second
	// maxConflicts bounds how often one message is decided again after a
	// concurrent change to the same subscriber.
	maxConflicts = 100
)

// Options configure a Server. The top level is what every server needs;
// HTTP tunes the HTTP serving, Console the support console, and
// Services are the optional collaborators, each turning its routes or
// feature off when nil.
type Options struct {
	PublicURL string // the URL providers are given, without a trailing slash
	// TwilioAuthToken, when set, serves Twilio's webhooks as Providers
	// holding twilio.New(TwilioAuthToken, PublicURL) would, unless
	// Providers hold Twilio already.
	TwilioAuthToken string
	AdminToken      string
	// Numbers are the business numbers served, by E.164 (or short code).
	Numbers map[string]*optin.Number
	// ReplyModes are the numbers' reply modes by E.164; a number not
	// listed replies in TwiML.
	ReplyModes map[string]ReplyMode
	Store      Store
	// Providers are the SMS providers' inbound webhooks, each at
	// POST /v1/webhooks/{name}/sms (and /status for a
	// provider.StatusProvider); at least one is required.
	Providers []provider.Provider
	Logger    *zap.Logger
	// Now and Rand default to time.Now and crypto/rand.Reader.
	Now  func() time.Time
	Rand io.Reader
	// Metrics are served at /metrics; nil means a fresh NewMetrics().
	Metrics *Metrics

	HTTP     HTTPOptions
	Console  ConsoleOptions
	Services Services
}

// HTTPOptions are the HTTP serving's limits and listeners.
type HTTPOptions struct {
	// MaxBodyBytes caps a request's body (413 beyond it); 0:
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// RequestTimeout is the deadline of a request's context (but an
	// audience export's); 0: DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Timeouts are the HTTP server's (timeouts.go); a zero field takes
	// its default.
	Timeouts Timeouts
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// client (for the limit of failed authentications); none: the socket
	// peer is the client.
	TrustedProxies []*net.IPNet
	// AdminAddr, when set, is the admin listener's address: it serves
	// /metrics without a token, /healthz and /readyz, and the public
	// listener no longer serves /metrics (adminlistener.go).
	AdminAddr string
	// BenchRoutes adds the benchmark-only routes /bench/hello,
	// /bench/baseline and /debug/pprof/ (bench.go). Never on in production.
	BenchRoutes bool
}

// ConsoleOptions are the support console's.
type ConsoleOptions struct {
	// Key is the key material the support console's handle key
	// derives from (HKDF, purpose "console session v1"): the master key,
	// so that every gateway sharing it accepts the others' subscriber
	// handles. Nil: a random key per process.
	Key []byte
	// Sessions keeps the support console's sessions (the store);
	// nil: the console is not served (404).
	Sessions ConsoleSessions
	// Idle ends a console session not used for that long;
	// 0: DefaultConsoleIdleTimeout. Every session ends ConsoleSessionMax
	// after sign-in.
	Idle time.Duration
}

// Services are the optional collaborators of the server. Each is off when
// nil: its routes answer 404 (Audit, Privacy, Consent, Config, Webhooks),
// or the feature falls back as its comment says.
type Services struct {
	// Audit serves the evidence route; nil answers it with 404.
	Audit Auditor
	// Privacy serves the export and erasure routes; nil answers them 404.
	Privacy Privacy
	// Consent serves the consent checks and audience exports of the
	// businesses' sending systems; nil answers them 404.
	Consent Consent
	// Config holds tenants, campaigns, numbers, API tokens and the access
	// log, served by the admin API; the numbers it holds replace Numbers
	// and ReplyModes. Nil: the static Numbers, and the config and token
	// routes answer 404.
	Config ConfigStore
	// Webhooks serves the event webhook routes (with Config); nil
	// answers them 404.
	Webhooks Webhooks
	// Egress is what an event webhook's URL may reach (its allow-list);
	// nil: public addresses only.
	Egress *egress.Policy
	// Security takes the security events and the consent checks' counts
	// (security.Sink); nil: only the log line and the metric.
	Security SecuritySink
	// Outbound queues replies of numbers in ReplyAPI mode and records
	// delivery statuses; required when any number replies through the API
	// or a provider takes no replies in its webhook's answer.
	Outbound OutboundStore
	// Spool, when set, keeps revocations that arrive while Store is
	// unreachable (see ReplaySpooled); nil answers them 503 like the rest.
	Spool Spool
	// ReadyChecks are asked by /readyz after the store's ping; the first
	// that fails makes it answer 503 with the check's name and reason.
	ReadyChecks []ReadyCheck
}

// Server serves the gateway's routes. It is safe for concurrent use.
type Server struct {
	echo      *echo.Echo
	opts      Options
	log       *zap.Logger
	cfg       *atomic.Pointer[snapshot] // the configuration the hot path reads
	adminAuth []byte
	authFails *failLimiter
	providers map[string]*webhook // by name
	webhooks  []*webhook          // in the order of Options.Providers

	metrics        *Metrics
	metricsHandler http.Handler
	phones         *phoneCache
	console        *consoleSealer
	listeners      *listeners
	admin          *echo.Echo // the admin listener's routes; nil without AdminAddr
}

// New returns a server with every route registered.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("gateway: no store")
	}
	if opts.AdminToken == "" {
		return nil, errors.New("gateway: admin token is required")
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.HTTP.MaxBodyBytes <= 0 {
		opts.HTTP.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.HTTP.RequestTimeout <= 0 {
		opts.HTTP.RequestTimeout = DefaultRequestTimeout
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	opts.HTTP.Timeouts = opts.HTTP.Timeouts.WithDefaults()
	opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	for num, m := range opts.ReplyModes {
		if m == ReplyAPI && opts.Services.Outbound == nil {
			return nil, fmt.Errorf("gateway: number %s replies through the api but there is no outbound store", optin.Phone(num))
		}
	}
	s := &Server{
		opts:      opts,
		log:       opts.Logger,
		cfg:       &atomic.Pointer[snapshot]{},
		authFails: newFailLimiter(DefaultAuthFailures, DefaultAuthWindow),
		adminAuth: []byte("Bearer " + opts.AdminToken),
		providers: map[string]*webhook{},

		metrics:        opts.Metrics,
		metricsHandler: opts.Metrics.Handler(),
		phones:         newPhoneCache(defaultPhoneCacheSize),
		listeners:      &listeners{},
	}
	consoleKey := opts.Console.Key
	if len(consoleKey) == 0 {
		consoleKey = make([]byte, 32)
		if _, err := io.ReadFull(opts.Rand, consoleKey); err != nil {
			return nil, fmt.Errorf("gateway: console key: %w", err)
		}
	}
	var err error
	if s.console, err = newConsoleSealer(consoleKey); err != nil {
		return nil, err
	}
	if err := s.addProviders(); err != nil {
		return nil, err
	}
	s.cfg.Store(staticSnapshot(opts.Numbers, opts.ReplyModes))
	if opts.Services.Config != nil {
		ctx, cancel := context.WithTimeout(context.Background(), opts.HTTP.RequestTimeout)
		defer cancel()
		if err := s.reloadConfig(ctx); err != nil {
			return nil, fmt.Errorf("gateway: load configuration: %w", err)
		}
	}
	s.echo = s.routes()
	if opts.HTTP.AdminAddr != "" {
		s.admin = s.adminRoutes()
	}
	return s, nil
}

// addProviders registers the providers of the options (and Twilio's
// from TwilioAuthToken): one webhook each, at least one in all.
func (s *Server) addProviders() error {
	ps := s.opts.Providers
	if s.opts.TwilioAuthToken != "" && !slices.ContainsFunc(ps, func(p provider.Provider) bool { return p.Info().Name == twilio.Name }) {
		ps = append([]provider.Provider{twilio.New(s.opts.TwilioAuthToken, s.opts.PublicURL)}, ps...)
	}
	if len(ps) == 0 {
		return errors.New("gateway: no SMS provider: give at least one in Providers (or a TwilioAuthToken)")
	}
	for _, p := range ps {
		w := &webhook{p: p, info: p.Info()}
		switch {
		case s.providers[w.info.Name] != nil:
			return fmt.Errorf("gateway: provider %s is given twice", w.info.Name)
		case !w.info.Inline && s.opts.Services.Outbound == nil:
			return fmt.Errorf("gateway: provider %s replies through the api but there is no outbound store", w.info.Name)
		}
		s.providers[w.info.Name] = w
		s.webhooks = append(s.webhooks, w)
		s.metrics.replyFailures.WithLabelValues(w.info.Name)
		s.metrics.sigFailures.WithLabelValues(w.info.Name)
	}
	return nil
}

// routes registers every route of the gateway, in one list.
func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = ipExtractor(s.opts.HTTP.TrustedProxies)
	e.Use(
		middleware.Recover(),
		s.requestID,
		s.accessLog,
		s.bodyDeadline,
		middleware.BodyLimit(fmt.Sprintf("%dB", s.opts.HTTP.MaxBodyBytes)),
		middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{
			Timeout: s.opts.HTTP.RequestTimeout,
			// An audience export streams for as long as it takes; it ends
			// when the client goes away.
			Skipper: func(c echo.Context) bool { return c.Path() == audiencePath },
		}),
	)

	e.GET("/healthz", s.handleHealthGet)
	e.GET("/readyz", s.handleReadyGet)
	if s.opts.HTTP.AdminAddr == "" {
		// The operator's token or a metrics token (metrics span tenants).
		e.GET("/metrics", s.handleMetricsGet, s.authenticate, s.allow(optin.RoleMetrics))
	}

	for _, w := range s.webhooks {
		e.POST(inboundPath(w.info.Name), s.handleProviderInbound(w))
		if sp, ok := w.p.(provider.StatusProvider); ok {
			e.POST(statusPath(w.info.Name), s.handleProviderStatus(w, sp))
		}
	}

	// The admin API (README "Admin API"): authenticate checks the token
	// and keeps every tenant token to its own tenant (404 otherwise);
	// allow checks the role (403). The operator token has every role.
	// A sender token (a business's sending system) may only check
	// consent and read audiences.
	const (
		admin   = optin.RoleAdmin
		support = optin.RoleSupport
		auditor = optin.RoleAuditor
		sender  = optin.RoleSender
	)
	any3 := s.allow(admin, support, auditor)
	e.GET("/v1/openapi.json", s.handleOpenAPIGet)
	e.GET("/v1/tenants", s.handleTenantList, s.authenticate, any3, s.needConfig)
	t := e.Group("/v1/tenants/:tenant", s.authenticate)
	t.PUT("", s.handleTenantPut, s.allow(admin), s.needConfig)
	t.GET("", s.handleTenantGet, any3, s.needConfig)
	t.DELETE("", s.handleTenantDelete, s.operatorOnly, s.needConfig)
	t.GET("/campaigns", s.handleCampaignList, any3, s.needConfig)
	t.PUT("/campaigns/:campaign", s.handleCampaignPut, s.allow(admin), s.needConfig)
	t.GET("/campaigns/:campaign", s.handleCampaignGet, any3, s.needConfig)
	t.DELETE("/campaigns/:campaign", s.handleCampaignDelete, s.allow(admin), s.needConfig)
	t.GET("/numbers", s.handleNumberList, any3, s.needConfig)
	t.PUT("/numbers/:number", s.handleNumberPut, s.allow(admin), s.needConfig)
	t.GET("/numbers/:number", s.handleNumberGet, any3, s.needConfig)
	t.DELETE("/numbers/:number", s.handleNumberDelete, s.allow(admin), s.needConfig)
	t.POST("/tokens", s.handleTokenCreate, s.allow(admin), s.needConfig)
	t.GET("/tokens", s.handleTokenList, s.allow(admin), s.needConfig)
	t.DELETE("/tokens/:id", s.handleTokenDelete, s.allow(admin), s.needConfig)
	t.GET("/subscribers/:phone", s.handleSubscriberGet, s.allow(support))
	t.GET("/subscribers/:phone/history", s.handleHistoryGet, s.allow(support))
	t.POST("/subscribers/:phone/opt-out", s.handleOptOutPost, s.allow(support))
	t.POST("/subscribers/:phone/revocations", s.handleRevocationPost, s.allow(support))
	t.GET("/subscribers/:phone/export", s.handleSubscriberExport, s.allow(support))
	t.DELETE("/subscribers/:phone", s.handleSubscriberDelete, s.allow(admin))
	t.GET("/subscribers/:phone/evidence", s.handleEvidenceGet, s.allow(auditor))
	t.GET("/audit/verify", s.handleAuditVerifyGet, s.allow(auditor))
	t.GET("/access-log", s.handleAccessLogGet, s.allow(admin, auditor))
	t.GET("/webhooks", s.handleWebhookList, s.allow(admin), s.needWebhooks)
	t.PUT("/webhooks/:id", s.handleWebhookPut, s.allow(admin), s.needWebhooks)
	t.GET("/webhooks/:id", s.handleWebhookGet, s.allow(admin), s.needWebhooks)
	t.DELETE("/webhooks/:id", s.handleWebhookDelete, s.allow(admin), s.needWebhooks)
	t.GET("/webhooks/:id/dead-letters", s.handleWebhookDeadLetters, s.allow(admin), s.needWebhooks)
	t.POST("/webhooks/:id/replay", s.handleWebhookReplay, s.allow(admin), s.needWebhooks)
	t.GET("/consent", s.handleConsentGet, s.allow(sender, support))
	t.POST("/consent/check", s.handleConsentCheckPost, s.allow(sender, support))
	e.GET(audiencePath, s.handleAudienceGet, s.authenticate, s.allow(sender))

	// The support console (README "Support console"): HTML pages, no
	// JavaScript; every form a POST with a CSRF token (console.go).
	con := e.Group(consolePath, s.needConsoleSessions, consoleHeaders)
	con.GET("", s.handleConsoleGet)
	con.GET("/console.css", s.handleConsoleCSSGet)
	con.POST("/sign-in", s.handleConsoleSignInPost)
	con.POST("/sign-out", s.handleConsoleSignOutPost)
	con.POST("/search", s.handleConsoleSearchPost)
	con.POST("/reveal", s.handleConsoleRevealPost)
	con.POST("/opt-out", s.handleConsoleOptOutPost)

	if s.opts.HTTP.BenchRoutes {
		s.benchRoutes(e)
	}
	return e
}

// Handler returns the server as an http.Handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Serve accepts connections on addr, and on Options.HTTP.AdminAddr when set,
// until Shutdown (timeouts.go). It returns nil after a graceful shutdown.
func (s *Server) Serve(addr string) error { return s.serve(addr) }

// Shutdown stops accepting connections and waits for in-flight requests to
// finish, until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error { return s.listeners.shutdown(ctx) }

// handleHealthGet answers while the process is up.
func (s *Server) handleHealthGet(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// ReadyCheck is one condition of readiness beside the store's ping, such
// as the audit archive keeping up or Redis persisting what it
// acknowledges. Check returns nil while the gateway may take traffic, or
// an error whose text (shown on /readyz: no personal data) says why not.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// handleReadyGet answers 200 while Redis is reachable and every ReadyCheck
// passes; 503 with Retry-After otherwise, naming the check and its reason.
func (s *Server) handleReadyGet(c echo.Context) error {
	ctx := c.Request().Context()
	if err := s.opts.Store.Ping(ctx); err != nil {
		return err
	}
	for _, rc := range s.opts.Services.ReadyChecks {
		if err := rc.Check(ctx); err != nil {
			c.Response().Header().Set("Retry-After", retryAfter)
			return c.JSON(http.StatusServiceUnavailable, map[string]string{
				"status": "not ready", "check": rc.Name, "reason": err.Error(),
			})
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
