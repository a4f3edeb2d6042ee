// Package config loads and validates the gateway's configuration: a YAML
// file, then environment variables that override it. Every error names the
// setting as the user wrote it: the YAML path (public_url,
// tenants[0].numbers[1].number) or the environment variable
// (OPTIN_MASTER_KEY, OPTIN_ADMIN_TOKEN_FILE).
package config

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/optin-gateway/optin-gateway/internal/phone"
	"github.com/optin-gateway/optin-gateway/optin"
)

// Defaults and limits of the settings.
const (
	DefaultAddr      = ":8080"
	DefaultDataDir   = "./data"
	DefaultLogFormat = "json"
	DefaultLogLevel  = "info"
	DefaultShards    = 16
	// DefaultSubscriberCache is store.DefaultSubscriberCache.
	DefaultSubscriberCache = 50_000
	MaxShards              = 1024
	DefaultShutdownTimeout = 15 * time.Second
	DefaultRequestTimeout  = 5 * time.Second
	DefaultMaxBodyBytes    = 64 << 10
	MinAdminTokenLength    = 16
	MasterKeySize          = 32
)

// Config is the gateway's validated configuration. Load returns it; it is
// not modified afterwards and is safe for concurrent reads. Its String and
// MarshalJSON methods never show a secret.
type Config struct {
	Addr      string // listen address, host:port
	PublicURL string // the gateway's URL as providers reach it: http(s), no query or fragment, no trailing slash
	// RedisURL is a redis://, rediss://, unix:// or (for a Redis Cluster)
	// redis+cluster://host:port,host:port URL; empty means the
	// embedded in-process Redis (see Embedded).
	RedisURL   string
	AdminToken string // bearer token of the admin API, at least MinAdminTokenLength characters
	// MasterKey wraps the per-subject data keys: MasterKeySize bytes, or nil
	// in embedded mode when none is configured (the caller generates one).
	MasterKey []byte
	// MasterKeys are the master keys, newest first (OPTIN_MASTER_KEYS; or
	// MasterKey alone with id SingleKeyID). MasterKey is then the newest.
	MasterKeys []MasterKey
	// PseudonymKey is the key subscriber pseudonyms derive from
	// (OPTIN_PSEUDONYM_KEY; MasterKey by default).
	PseudonymKey []byte
	DataDir      string
	Log          Log
	Shards       int // Redis outbox shards, 1..MaxShards
	// SubscriberCache is how many subscribers each gateway keeps in memory
	// to decide a message without reading Redis first
	// (OPTIN_SUBSCRIBER_CACHE or subscriber_cache; DefaultSubscriberCache;
	// 0 turns the cache off).
	SubscriberCache int
	ShutdownTimeout time.Duration
	RequestTimeout  time.Duration
	MaxBodyBytes    int64
	// Audit configures the durable audit log.
	Audit Audit
	// BenchRoutes serves the benchmark-only routes /bench/hello and
	// /bench/baseline: OPTIN_BENCH_ROUTES=true (or serve --bench-routes).
	// Never in production.
	BenchRoutes bool
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// client of the admin API (OPTIN_TRUSTED_PROXIES, comma-separated
	// CIDRs); none: the socket peer is the client.
	TrustedProxies []*net.IPNet
	// Tenants are as written in the file, except that business numbers are
	// normalised to E.164 (short codes stay as they are).
	Tenants []Tenant

	numbers map[string]*optin.Number
	setKeys map[string]bool // the providers' settings that are set, as "twilio.auth_token"

	// Providers are the SMS providers the configuration enables, in
	// provider/all's order (providers.go); at least one serves an inbound
	// webhook.
	Providers []Provider
	// Outbound configures replies sent through providers' APIs.
	Outbound Outbound
	// Events configures the event webhooks' delivery.
	Events Events
	// HTTP configures the listeners' timeouts and the admin listener.
	HTTP HTTP
	// RedisPersistence is what the gateway does while Redis does not
	// persist what it acknowledges (persistence.go): PersistenceRefuse
	// (OPTIN_REDIS_PERSISTENCE or redis_persistence; the default) or
	// PersistenceWarn.
	RedisPersistence string
	// Console configures the support console's sessions.
	Console Console
	// Security configures the security events' anomaly rules and alerts.
	Security Security
	// Egress configures the event webhooks' allowed targets (egress.go).
	Egress Egress
}

// Log configures logging.
type Log struct {
	Format string // "json" or "console"
	Level  string // "debug", "info", "warn" or "error"
}

// Tenant is one business with its campaigns and the numbers they run on,
// as written in the file: the schema of optin.TenantConfig.
type Tenant = optin.TenantConfig

// Campaign is a campaign as written in the file: optin.CampaignDoc. Zero
// limits and empty optional texts take optin's defaults
// (optin.Campaign.WithDefaults); the file may give its version.
type Campaign = optin.CampaignDoc

// Number is a business number of a tenant as written in the file:
// optin.NumberDoc. Load normalises its number to E.164.
type Number = optin.NumberDoc

// file is the shape of the YAML file.
type file struct {
	Addr      string `yaml:"addr"`
	PublicURL string `yaml:"public_url"`
	RedisURL  string `yaml:"redis_url"`
	DataDir   string `yaml:"data_dir"`
	Log       struct {
		Format string `yaml:"format"`
		Level  string `yaml:"level"`
	} `yaml:"log"`
	Shards *int `yaml:"shards"`
	// SubscriberCache: see Config.SubscriberCache.
	SubscriberCache *int           `yaml:"subscriber_cache"`
	Outbound        fileOutbound   `yaml:"outbound"`
	AdminToken      string         `yaml:"admin_token"`
	MasterKey       string         `yaml:"master_key"`
	ShutdownTimeout *time.Duration `yaml:"shutdown_timeout"`
	RequestTimeout  *time.Duration `yaml:"request_timeout"`
	MaxBodyBytes    *int64         `yaml:"max_body_bytes"`
	Audit           auditFile      `yaml:"audit"`
	Events          eventsFile     `yaml:"events"`
	HTTP            httpFile       `yaml:"http"`
	AdminAddr       string         `yaml:"admin_addr"`
	Console         consoleFile    `yaml:"console"`
	Security        securityFile   `yaml:"security"`
	Egress          egressFile     `yaml:"egress"`
	Tenants         []Tenant       `yaml:"tenants"`

	RedisPersistence string `yaml:"redis_persistence"` // see Config.RedisPersistence

	// Providers are the providers' sections (twilio, telnyx, …), by
	// name, as each provider's package declares them (providers.go).
	Providers map[string]yaml.Node `yaml:",inline"`
}

// setting is one string-valued setting and where it came from.
type setting struct {
	name  string // the YAML key or environment variable, for errors
	value string
}

// set overrides s with the environment variable env when it is not empty.
func (s *setting) set(getenv func(string) string, env string) {
	if v := getenv(env); v != "" {
		*s = setting{env, v}
	}
}

// setSecret is set that also accepts env+"_FILE", the path of a file that
// holds the value (a trailing newline is trimmed). Setting both is an error.
func (s *setting) setSecret(getenv func(string) string, env string) error {
	fileEnv := env + "_FILE"
	v, path := getenv(env), getenv(fileEnv)
	switch {
	case v != "" && path != "":
		return fmt.Errorf("config: %s and %s are both set; set only one", env, fileEnv)
	case v != "":
		*s = setting{env, v}
	case path != "":
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("config: %s: %w", fileEnv, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return fmt.Errorf("config: %s: %s is empty", fileEnv, path)
		}
		*s = setting{fileEnv, v}
	}
	return nil
}

// Load reads the YAML file at path (none when path is ""), applies the
// environment variables OPTIN_ADDR, OPTIN_PUBLIC_URL, OPTIN_REDIS_URL,
// OPTIN_DATA_DIR, OPTIN_LOG_FORMAT, OPTIN_LOG_LEVEL, OPTIN_SHARDS,
// OPTIN_SUBSCRIBER_CACHE, the
// audit settings OPTIN_AUDIT_RETENTION, OPTIN_AUDIT_LEASE_TTL and
// OPTIN_AUDIT_ARCHIVE_IN_SERVE, and the
// secrets OPTIN_ADMIN_TOKEN, OPTIN_MASTER_KEY, OPTIN_MASTER_KEYS and
// OPTIN_PSEUDONYM_KEY (each also as <NAME>_FILE), and each provider's
// settings (docs/providers.md), read through getenv, where an empty value
// means unset, then fills in defaults and validates the result. The file
// must not contain unknown keys. The error, if any, names the offending
// setting and never contains a secret.
func Load(path string, getenv func(string) string) (*Config, error) {
	var f file
	if path != "" {
		if err := readFile(path, &f); err != nil {
			return nil, err
		}
	}

	addr := setting{"addr", f.Addr}
	publicURL := setting{"public_url", f.PublicURL}
	redisURL := setting{"redis_url", f.RedisURL}
	dataDir := setting{"data_dir", f.DataDir}
	logFormat := setting{"log.format", f.Log.Format}
	logLevel := setting{"log.level", f.Log.Level}
	shards := setting{"shards", ""}
	if f.Shards != nil {
		shards.value = strconv.Itoa(*f.Shards)
	}
	subCache := setting{"subscriber_cache", ""}
	if f.SubscriberCache != nil {
		subCache.value = strconv.Itoa(*f.SubscriberCache)
	}
	subCache.set(getenv, "OPTIN_SUBSCRIBER_CACHE")
	adminToken := setting{"admin_token", f.AdminToken}
	masterKey := setting{"master_key", f.MasterKey}

	addr.set(getenv, "OPTIN_ADDR")
	publicURL.set(getenv, "OPTIN_PUBLIC_URL")
	redisURL.set(getenv, "OPTIN_REDIS_URL")
	dataDir.set(getenv, "OPTIN_DATA_DIR")
	logFormat.set(getenv, "OPTIN_LOG_FORMAT")
	logLevel.set(getenv, "OPTIN_LOG_LEVEL")
	shards.set(getenv, "OPTIN_SHARDS")
	for _, s := range []struct {
		s   *setting
		env string
	}{
		{&adminToken, "OPTIN_ADMIN_TOKEN"},
		{&masterKey, "OPTIN_MASTER_KEY"},
	} {
		if err := s.s.setSecret(getenv, s.env); err != nil {
			return nil, err
		}
	}

	c := &Config{
		Addr:            cmp.Or(addr.value, DefaultAddr),
		RedisURL:        redisURL.value,
		AdminToken:      adminToken.value,
		DataDir:         cmp.Or(dataDir.value, DefaultDataDir),
		Log:             Log{Format: cmp.Or(logFormat.value, DefaultLogFormat), Level: cmp.Or(logLevel.value, DefaultLogLevel)},
		Shards:          DefaultShards,
		SubscriberCache: DefaultSubscriberCache,
		ShutdownTimeout: DefaultShutdownTimeout,
		RequestTimeout:  DefaultRequestTimeout,
		MaxBodyBytes:    DefaultMaxBodyBytes,
		Tenants:         f.Tenants,
		setKeys:         map[string]bool{},
	}

	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return nil, fmt.Errorf("config: %s: must be host:port, e.g. \":8080\"", addr.name)
	}
	var err error
	if c.PublicURL, err = parsePublicURL(publicURL); err != nil {
		return nil, err
	}
	if c.RedisURL != "" {
		if err := checkRedisURL(redisURL); err != nil {
			return nil, err
		}
	}
	switch {
	case c.AdminToken == "":
		return nil, fmt.Errorf("config: %s: required; set it in the file, OPTIN_ADMIN_TOKEN or OPTIN_ADMIN_TOKEN_FILE", adminToken.name)
	case utf8.RuneCountInString(c.AdminToken) < MinAdminTokenLength:
		return nil, fmt.Errorf("config: %s: must be at least %d characters", adminToken.name, MinAdminTokenLength)
	}
	if masterKey.value != "" {
		k, err := base64.StdEncoding.DecodeString(masterKey.value)
		if err != nil || len(k) != MasterKeySize {
			return nil, fmt.Errorf("config: %s: must be base64 of %d bytes (generate one with: openssl rand -base64 %d)", masterKey.name, MasterKeySize, MasterKeySize)
		}
		c.MasterKey = k
	}
	if err := c.loadKeys(getenv, masterKey); err != nil {
		return nil, err
	}
	if c.MasterKey == nil && c.RedisURL != "" {
		return nil, fmt.Errorf("config: %s: required when %s is set; set OPTIN_MASTER_KEY or OPTIN_MASTER_KEY_FILE to base64 of %d random bytes (openssl rand -base64 %d), or OPTIN_MASTER_KEYS", masterKey.name, redisURL.name, MasterKeySize, MasterKeySize)
	}
	if c.Log.Format != "json" && c.Log.Format != "console" {
		return nil, fmt.Errorf("config: %s: must be json or console", logFormat.name)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		return nil, fmt.Errorf("config: %s: must be debug, info, warn or error", logLevel.name)
	}
	if shards.value != "" {
		n, err := strconv.Atoi(shards.value)
		if err != nil || n < 1 || n > MaxShards {
			return nil, fmt.Errorf("config: %s: must be an integer in 1..%d", shards.name, MaxShards)
		}
		c.Shards = n
	}
	if subCache.value != "" {
		n, err := strconv.Atoi(subCache.value)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("config: %s: must be a whole number of subscribers (0 turns the cache off)", subCache.name)
		}
		c.SubscriberCache = n
	}
	if err := setDurations(
		durationSetting{"shutdown_timeout", f.ShutdownTimeout, &c.ShutdownTimeout},
		durationSetting{"request_timeout", f.RequestTimeout, &c.RequestTimeout},
	); err != nil {
		return nil, err
	}
	if f.MaxBodyBytes != nil {
		if *f.MaxBodyBytes <= 0 {
			return nil, fmt.Errorf("config: max_body_bytes: must be positive")
		}
		c.MaxBodyBytes = *f.MaxBodyBytes
	}

	if c.Audit, err = loadAudit(f.Audit, getenv, c.DataDir); err != nil {
		return nil, err
	}
	if c.Events, err = loadEvents(f.Events, getenv); err != nil {
		return nil, err
	}
	if c.HTTP, err = loadHTTP(f.HTTP, f.AdminAddr, c.Addr, getenv); err != nil {
		return nil, err
	}
	if err := loadPersistence(c, f.RedisPersistence, getenv); err != nil {
		return nil, err
	}
	if c.Console, err = loadConsole(f.Console, getenv); err != nil {
		return nil, err
	}
	if c.Security, err = loadSecurity(f.Security, getenv); err != nil {
		return nil, err
	}
	if c.Egress, err = loadEgress(f.Egress, getenv); err != nil {
		return nil, err
	}
	if v := getenv("OPTIN_BENCH_ROUTES"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("config: OPTIN_BENCH_ROUTES: must be true or false")
		}
		c.BenchRoutes = b
	}
	if c.TrustedProxies, err = parseCIDRs("OPTIN_TRUSTED_PROXIES", getenv("OPTIN_TRUSTED_PROXIES")); err != nil {
		return nil, err
	}

	if c.numbers, err = buildNumbers(c.Tenants); err != nil {
		return nil, err
	}
	if err := c.loadOutbound(path, f, getenv); err != nil {
		return nil, err
	}
	return c, nil
}

// readFile decodes the YAML file at path into f, rejecting unknown keys.
func readFile(path string, f *file) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	switch err := dec.Decode(f); {
	case errors.Is(err, io.EOF): // an empty file
		return nil
	case err != nil:
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return fmt.Errorf("config: %s: %s", path, strings.Join(te.Errors, "; "))
		}
		return fmt.Errorf("config: %s: %w", path, err)
	}
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		return fmt.Errorf("config: %s: more than one YAML document", path)
	}
	return checkProviderSections(path, f.Providers)
}

// parsePublicURL returns s's URL without its trailing slashes.
func parsePublicURL(s setting) (string, error) {
	if s.value == "" {
		return "", fmt.Errorf("config: %s: required; set it in the file or OPTIN_PUBLIC_URL to the gateway's URL as providers reach it, e.g. https://optin.example.com", s.name)
	}
	u, err := url.Parse(s.value)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("config: %s: must be an absolute http or https URL", s.name)
	case strings.ContainsAny(s.value, "?#"):
		return "", fmt.Errorf("config: %s: must not have a query or fragment", s.name)
	case u.User != nil:
		return "", fmt.Errorf("config: %s: must not contain a user name or password", s.name)
	}
	return strings.TrimRight(s.value, "/"), nil
}

// checkRedisURL reports whether s is a URL go-redis can dial, without
// repeating it: it may hold a password.
func checkRedisURL(s setting) error {
	u, err := url.Parse(s.value)
	if err == nil {
		switch u.Scheme {
		case "redis", "rediss", "redis+cluster", "rediss+cluster":
			if u.Host != "" {
				return nil
			}
		case "unix":
			if u.Path != "" {
				return nil
			}
		}
	}
	return fmt.Errorf("config: %s: must be a redis://host:port, rediss://host:port, unix:///path or redis+cluster://host:port,host:port URL", s.name)
}

// checkID reports whether id is a valid tenant or campaign id.
func checkID(path, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("config: %s: required", path)
	case !optin.ValidID(id):
		return fmt.Errorf("config: %s: %q %s", path, id, optin.IDRule)
	}
	return nil
}

// buildNumbers validates tenants, normalises their numbers in place and
// returns the optin.Numbers they define, by E.164.
func buildNumbers(tenants []Tenant) (map[string]*optin.Number, error) {
	numbers := map[string]*optin.Number{}
	numberPath := map[string]string{} // E.164 → where it was first listed
	tenantPath := map[string]string{} // tenant id → where it was first listed
	for ti := range tenants {
		t := &tenants[ti]
		tp := fmt.Sprintf("tenants[%d]", ti)
		if err := checkID(tp+".id", t.ID); err != nil {
			return nil, err
		}
		if first, dup := tenantPath[t.ID]; dup {
			return nil, fmt.Errorf("config: %s.id: %q is already the id of %s", tp, t.ID, first)
		}
		tenantPath[t.ID] = tp

		var scope []optin.Campaign // nil: scope "number"
		switch t.RevocationScope {
		case "", "number":
		case "tenant":
			scope = []optin.Campaign{}
		default:
			return nil, fmt.Errorf("config: %s.revocation_scope: must be number or tenant", tp)
		}
		campaigns := map[string]optin.Campaign{}
		campaignPath := map[string]string{}
		for ci, c := range t.Campaigns {
			cp := fmt.Sprintf("%s.campaigns[%d]", tp, ci)
			if err := checkID(cp+".id", c.ID); err != nil {
				return nil, err
			}
			if first, dup := campaignPath[c.ID]; dup {
				return nil, fmt.Errorf("config: %s.id: %q is already the id of %s", cp, c.ID, first)
			}
			campaignPath[c.ID] = cp
			if c.Version < 0 {
				return nil, fmt.Errorf("config: %s.version: must not be negative", cp)
			}
			if c.MaxSegments < 0 || c.MaxSegments > optin.MaxMaxSegments {
				return nil, fmt.Errorf("config: %s.max_segments: %d is outside 1..%d (0: %d)", cp, c.MaxSegments, optin.MaxMaxSegments, optin.DefaultMaxSegments)
			}
			oc := c.Campaign()
			if err := oc.Validate(); err != nil {
				return nil, fmt.Errorf("config: %s: %w", cp, err)
			}
			campaigns[c.ID] = oc
			if scope != nil {
				scope = append(scope, oc)
			}
		}

		for ni := range t.Numbers {
			n := &t.Numbers[ni]
			np := fmt.Sprintf("%s.numbers[%d]", tp, ni)
			if n.Number == "" {
				return nil, fmt.Errorf("config: %s.number: required", np)
			}
			p, err := phone.ParseBusiness(n.Number)
			if err != nil {
				return nil, fmt.Errorf("config: %s.number: %w; write it in E.164 with a + and the country code, e.g. \"+12025550100\", or as a short code of 3 to 8 digits", np, err)
			}
			e164 := p.E164()
			if first, dup := numberPath[e164]; dup {
				return nil, fmt.Errorf("config: %s.number: %s is already listed at %s; a number belongs to one tenant", np, e164, first)
			}
			numberPath[e164] = np + ".number"
			n.Number = e164

			if len(n.Campaigns) == 0 {
				return nil, fmt.Errorf("config: %s.campaigns: required; list at least one campaign id of tenant %s", np, t.ID)
			}
			on := &optin.Number{
				Tenant:                t.ID,
				E164:                  e164,
				StopReply:             n.StopReply,
				ProviderHandlesOptOut: n.ProviderHandlesOptOut,
				Packs:                 slices.Clone(n.KeywordPacks),
				Scope:                 scope,
			}
			for i, id := range n.Campaigns {
				c, ok := campaigns[id]
				switch {
				case !ok:
					return nil, fmt.Errorf("config: %s.campaigns[%d]: tenant %s has no campaign %q", np, i, t.ID, id)
				case slices.Index(n.Campaigns, id) < i:
					return nil, fmt.Errorf("config: %s.campaigns[%d]: campaign %q is listed twice", np, i, id)
				}
				c.Keywords = slices.Clone(c.Keywords)
				on.Campaigns = append(on.Campaigns, c)
			}
			if err := on.Validate(); err != nil {
				return nil, fmt.Errorf("config: %s: %w", np, err)
			}
			numbers[e164] = on
		}
	}
	return numbers, nil
}

// Numbers returns the business numbers of every tenant, keyed by E.164 (or
// short code), each with its tenant id and its campaigns, defaults applied.
// The map is built once by Load and shared: callers must not modify it or
// the Numbers in it.
func (c *Config) Numbers() map[string]*optin.Number { return c.numbers }

// Embedded reports whether the gateway runs on the embedded in-process
// Redis: no RedisURL is configured.
func (c *Config) Embedded() bool { return c.RedisURL == "" }

// summary is what String and MarshalJSON show: no secret, only whether it
// is set.
type summary struct {
	Addr            string `json:"addr"`
	PublicURL       string `json:"public_url"`
	Redis           string `json:"redis"`
	DataDir         string `json:"data_dir"`
	LogFormat       string `json:"log_format"`
	LogLevel        string `json:"log_level"`
	Shards          int    `json:"shards"`
	ShutdownTimeout string `json:"shutdown_timeout"`
	RequestTimeout  string `json:"request_timeout"`
	MaxBodyBytes    int64  `json:"max_body_bytes"`
	Tenants         int    `json:"tenants"`
	Numbers         int    `json:"numbers"`
	TwilioAuthToken string `json:"twilio_auth_token"`
	AdminToken      string `json:"admin_token"`
	MasterKey       string `json:"master_key"`
}

func (c Config) summary() summary {
	redis := "embedded"
	if c.RedisURL != "" {
		redis = redactURL(c.RedisURL)
	}
	return summary{
		Addr:            c.Addr,
		PublicURL:       c.PublicURL,
		Redis:           redis,
		DataDir:         c.DataDir,
		LogFormat:       c.Log.Format,
		LogLevel:        c.Log.Level,
		Shards:          c.Shards,
		ShutdownTimeout: c.ShutdownTimeout.String(),
		RequestTimeout:  c.RequestTimeout.String(),
		MaxBodyBytes:    c.MaxBodyBytes,
		Tenants:         len(c.Tenants),
		Numbers:         len(c.numbers),
		TwilioAuthToken: isSet(c.setKeys["twilio.auth_token"]),
		AdminToken:      isSet(c.AdminToken != ""),
		MasterKey:       isSet(len(c.MasterKey) > 0),
	}
}

// String returns a one-line summary of c for logs. Secrets appear only as
// "set" or "unset"; the Redis URL loses its password and query.
func (c Config) String() string {
	s := c.summary()
	return fmt.Sprintf("addr=%s public_url=%s redis=%s data_dir=%s log=%s/%s shards=%d shutdown_timeout=%s request_timeout=%s max_body_bytes=%d tenants=%d numbers=%d twilio_auth_token=%s admin_token=%s master_key=%s",
		s.Addr, s.PublicURL, s.Redis, s.DataDir, s.LogFormat, s.LogLevel, s.Shards, s.ShutdownTimeout, s.RequestTimeout,
		s.MaxBodyBytes, s.Tenants, s.Numbers, s.TwilioAuthToken, s.AdminToken, s.MasterKey)
}

// GoString is String, so that %#v does not show secrets either.
func (c Config) GoString() string { return c.String() }

// MarshalJSON encodes the summary String shows, so that a logger that
// encodes c as JSON (zap.Any, slog's JSON handler) shows no secret.
func (c Config) MarshalJSON() ([]byte, error) { return json.Marshal(c.summary()) }

func isSet(ok bool) string {
	if ok {
		return "set"
	}
	return "unset"
}

// redactURL returns s without its password, query and fragment.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable)"
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	return u.Redacted()
}

// parseCIDRs parses a comma-separated list of CIDRs (a bare IP is one
// address) of the setting name.
func parseCIDRs(name, v string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			ip := net.ParseIP(f)
			if ip == nil {
				return nil, fmt.Errorf("config: %s: %q is not an IP address or CIDR", name, f)
			}
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(f)
		if err != nil {
			return nil, fmt.Errorf("config: %s: %q is not a CIDR such as 10.0.0.0/8", name, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// ConfigSet returns the tenants, campaigns and numbers of the file as
// documents with their defaults, for bootstrapping the configuration store
// (store.BootstrapConfig). Campaign versions of the file are kept.
func (c *Config) ConfigSet() optin.ConfigSet {
	set := optin.ConfigSet{Tenants: map[string]optin.TenantDoc{}, Campaigns: map[string]map[string]optin.CampaignDoc{}, Numbers: map[string]map[string]optin.NumberDoc{}}
	for _, t := range c.Tenants {
		set.Tenants[t.ID] = t.TenantDoc.WithDefaults()
		set.Campaigns[t.ID] = map[string]optin.CampaignDoc{}
		for _, cp := range t.Campaigns {
			cp.Keywords = slices.Clone(cp.Keywords)
			cp.Meta = optin.Meta{Version: cp.Version}
			set.Campaigns[t.ID][cp.ID] = cp.WithDefaults()
		}
		set.Numbers[t.ID] = map[string]optin.NumberDoc{}
		for _, n := range t.Numbers {
			n.Campaigns, n.KeywordPacks = slices.Clone(n.Campaigns), slices.Clone(n.KeywordPacks)
			n.Meta = optin.Meta{}
			set.Numbers[t.ID][n.Number] = n.WithDefaults()
		}
	}
	return set
}

// durationSetting is an optional duration of the file (nil when absent),
// its name there, and the field it sets.
type durationSetting struct {
	name    string
	in, out *time.Duration
}

// setDurations sets each given duration; every one must be positive.
func setDurations(ds ...durationSetting) error {
	for _, d := range ds {
		if d.in == nil {
			continue
		}
		if *d.in <= 0 {
			return fmt.Errorf("config: %s: must be positive", d.name)
		}
		*d.out = *d.in
	}
	return nil
}
