package config

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testKey is a master key generated from a fixed seed.
var testKey = sha256.Sum256([]byte("optin-gateway config test key"))

var testKeyB64 = base64.StdEncoding.EncodeToString(testKey[:])

// base is a valid configuration that the table tests change one line of.
const base = `public_url: "http://localhost:8080"
twilio: {auth_token: "testtwiliotoken0000000000000000000"}
admin_token: "test-admin-token-0000"
tenants:
  - id: demo
    name: ACME
    campaigns:
      - id: deals
        name: ACME Deals
        keywords: [JOIN, DEALS]
        prompt: "Reply {code} to confirm ACME Deals. Up to 4 msg/mo. Msg&data rates may apply. Reply HELP for help, STOP to cancel."
        confirmation: "You're subscribed to ACME Deals. Reply STOP to cancel."
        help: "ACME Deals: help at example.com/help or 1-202-555-0199. Reply STOP to cancel."
        code_ttl: 1h
        version: 1
      - id: news
        name: ACME News
        keywords: [NEWS]
        prompt: "Reply {code} to confirm ACME News. Up to 2 msg/mo. Msg&data rates may apply. Reply HELP for help, STOP to cancel."
        confirmation: "You're subscribed to ACME News. Reply STOP to cancel."
        help: "ACME News: help at example.com/help or 1-202-555-0199. Reply STOP to cancel."
    numbers:
      - number: "+12025550100"
        campaigns: [deals, news]
        stop_reply: "You're unsubscribed from ACME and will get no more messages. Reply START to rejoin."
      - number: "+12025550101"
        campaigns: [news]
        stop_reply: "You're unsubscribed from ACME and will get no more messages. Reply START to rejoin."
  - id: other
    name: Other Co
    campaigns:
      - id: deals
        name: Other Deals
        keywords: [JOIN]
        prompt: "Reply {code} to confirm Other Deals. Up to 4 msg/mo. Msg&data rates may apply. Reply HELP for help, STOP to cancel."
        confirmation: "You're subscribed to Other Deals. Reply STOP to cancel."
        help: "Other Deals: help at example.com/help or 1-202-555-0198. Reply STOP to cancel."
    numbers:
      - number: "+12025550102"
        campaigns: [deals]
        stop_reply: "You're unsubscribed from Other Co. Reply START to rejoin."
`

// env returns a getenv that looks names up in m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeFile writes content to a file named name in a temporary directory
// and returns its path.
func writeFile(tb testing.TB, name, content string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// edit returns base with old replaced by new, failing when old is missing.
func edit(tb testing.TB, old, new string) string {
	tb.Helper()
	if !strings.Contains(base, old) {
		tb.Fatalf("base has no %q", old)
	}
	return strings.Replace(base, old, new, 1)
}

// requiredEnv are the settings Load requires, from the environment.
func requiredEnv() map[string]string {
	return map[string]string{
		"OPTIN_PUBLIC_URL":        "https://optin.example.com/",
		"OPTIN_TWILIO_AUTH_TOKEN": "envtwiliotoken",
		"OPTIN_ADMIN_TOKEN":       "env-admin-token-0000",
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load("", env(requiredEnv()))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for _, tt := range []struct {
		name      string
		got, want any
	}{
		{"Addr", c.Addr, ":8080"},
		{"PublicURL", c.PublicURL, "https://optin.example.com"},
		{"RedisURL", c.RedisURL, ""},
		{"Embedded", c.Embedded(), true},
		{"MasterKey == nil", c.MasterKey == nil, true},
		{"DataDir", c.DataDir, "./data"},
		{"Log.Format", c.Log.Format, "json"},
		{"Log.Level", c.Log.Level, "info"},
		{"Shards", c.Shards, 16},
		{"ShutdownTimeout", c.ShutdownTimeout, 15 * time.Second},
		{"RequestTimeout", c.RequestTimeout, 5 * time.Second},
		{"MaxBodyBytes", c.MaxBodyBytes, int64(65536)},
		{"len(Tenants)", len(c.Tenants), 0},
		{"len(Numbers())", len(c.Numbers()), 0},
		{"TwilioAuthToken", twilioSettings(t, c).AuthToken, "envtwiliotoken"},
		{"AdminToken", c.AdminToken, "env-admin-token-0000"},
	} {
		if tt.got != tt.want {
			t.Errorf("Load(\"\", env).%s = %v; want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestLoadFileAndEnvOverrides(t *testing.T) {
	file := edit(t, "public_url:", `addr: "127.0.0.1:9000"
redis_url: "redis://file:6379"
master_key: "`+testKeyB64+`"
data_dir: "/var/lib/file"
log: {format: console, level: debug}
shards: 8
shutdown_timeout: 30s
request_timeout: 2s
max_body_bytes: 1024
public_url:`)
	path := writeFile(t, "optin.yaml", file)

	otherKey := sha256.Sum256([]byte("optin-gateway config test key 2"))
	tests := []struct {
		name string
		env  map[string]string
		get  func(*Config) any
		want any
	}{
		{"file addr", nil, func(c *Config) any { return c.Addr }, "127.0.0.1:9000"},
		{"file redis_url", nil, func(c *Config) any { return c.RedisURL }, "redis://file:6379"},
		{"file master_key", nil, func(c *Config) any { return string(c.MasterKey) }, string(testKey[:])},
		{"file data_dir", nil, func(c *Config) any { return c.DataDir }, "/var/lib/file"},
		{"file log.format", nil, func(c *Config) any { return c.Log.Format }, "console"},
		{"file log.level", nil, func(c *Config) any { return c.Log.Level }, "debug"},
		{"file shards", nil, func(c *Config) any { return c.Shards }, 8},
		{"file shutdown_timeout", nil, func(c *Config) any { return c.ShutdownTimeout }, 30 * time.Second},
		{"file request_timeout", nil, func(c *Config) any { return c.RequestTimeout }, 2 * time.Second},
		{"file max_body_bytes", nil, func(c *Config) any { return c.MaxBodyBytes }, int64(1024)},
		{"file twilio.auth_token", nil, func(c *Config) any { return twilioSettings(t, c).AuthToken }, "testtwiliotoken0000000000000000000"},
		{"file admin_token", nil, func(c *Config) any { return c.AdminToken }, "test-admin-token-0000"},
		{"file embedded", nil, func(c *Config) any { return c.Embedded() }, false},

		{"OPTIN_ADDR", map[string]string{"OPTIN_ADDR": ":9999"}, func(c *Config) any { return c.Addr }, ":9999"},
		{"OPTIN_PUBLIC_URL", map[string]string{"OPTIN_PUBLIC_URL": "https://optin.example.com/base/"}, func(c *Config) any { return c.PublicURL }, "https://optin.example.com/base"},
		{"OPTIN_REDIS_URL", map[string]string{"OPTIN_REDIS_URL": "rediss://env:6380/1"}, func(c *Config) any { return c.RedisURL }, "rediss://env:6380/1"},
		{"OPTIN_REDIS_URL cluster", map[string]string{"OPTIN_REDIS_URL": "redis+cluster://n1:7000,n2:7000,n3:7000"}, func(c *Config) any { return c.RedisURL }, "redis+cluster://n1:7000,n2:7000,n3:7000"},
		{"OPTIN_MASTER_KEY", map[string]string{"OPTIN_MASTER_KEY": base64.StdEncoding.EncodeToString(otherKey[:])}, func(c *Config) any { return string(c.MasterKey) }, string(otherKey[:])},
		{"OPTIN_DATA_DIR", map[string]string{"OPTIN_DATA_DIR": "/tmp/env"}, func(c *Config) any { return c.DataDir }, "/tmp/env"},
		{"OPTIN_LOG_FORMAT", map[string]string{"OPTIN_LOG_FORMAT": "json"}, func(c *Config) any { return c.Log.Format }, "json"},
		{"OPTIN_LOG_LEVEL", map[string]string{"OPTIN_LOG_LEVEL": "warn"}, func(c *Config) any { return c.Log.Level }, "warn"},
		{"OPTIN_SHARDS", map[string]string{"OPTIN_SHARDS": "1024"}, func(c *Config) any { return c.Shards }, 1024},
		{"OPTIN_SUBSCRIBER_CACHE default", map[string]string{}, func(c *Config) any { return c.SubscriberCache }, DefaultSubscriberCache},
		{"OPTIN_SUBSCRIBER_CACHE off", map[string]string{"OPTIN_SUBSCRIBER_CACHE": "0"}, func(c *Config) any { return c.SubscriberCache }, 0},
		{"OPTIN_TWILIO_AUTH_TOKEN", map[string]string{"OPTIN_TWILIO_AUTH_TOKEN": "envtwilio"}, func(c *Config) any { return twilioSettings(t, c).AuthToken }, "envtwilio"},
		{"OPTIN_ADMIN_TOKEN", map[string]string{"OPTIN_ADMIN_TOKEN": "env-admin-token-0000"}, func(c *Config) any { return c.AdminToken }, "env-admin-token-0000"},
		{"empty variable keeps the file", map[string]string{"OPTIN_ADDR": ""}, func(c *Config) any { return c.Addr }, "127.0.0.1:9000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(path, env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := tt.get(c); got != tt.want {
				t.Errorf("Load(file, %v) = %v; want %v", tt.env, got, tt.want)
			}
		})
	}
}

func TestLoadSecretFiles(t *testing.T) {
	tests := []struct {
		name    string
		env     string
		content string
		get     func(*Config) string
		want    string
	}{
		{"twilio", "OPTIN_TWILIO_AUTH_TOKEN_FILE", "filetwiliotoken\n", func(c *Config) string { return twilioSettings(t, c).AuthToken }, "filetwiliotoken"},
		{"admin", "OPTIN_ADMIN_TOKEN_FILE", "file-admin-token-0000\r\n", func(c *Config) string { return c.AdminToken }, "file-admin-token-0000"},
		{"admin without newline", "OPTIN_ADMIN_TOKEN_FILE", "file-admin-token-0001", func(c *Config) string { return c.AdminToken }, "file-admin-token-0001"},
		{"master key", "OPTIN_MASTER_KEY_FILE", testKeyB64 + "\n", func(c *Config) string { return string(c.MasterKey) }, string(testKey[:])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := requiredEnv()
			delete(e, strings.TrimSuffix(tt.env, "_FILE"))
			e[tt.env] = writeFile(t, "secret", tt.content)
			c, err := Load("", env(e))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := tt.get(c); got != tt.want {
				t.Errorf("Load with %s = %q; want %q", tt.env, got, tt.want)
			}
		})
	}
}

func TestLoadSecretBothSet(t *testing.T) {
	for _, name := range []string{"OPTIN_TWILIO_AUTH_TOKEN", "OPTIN_ADMIN_TOKEN", "OPTIN_MASTER_KEY"} {
		t.Run(name, func(t *testing.T) {
			e := requiredEnv()
			e[name] = "x"
			e[name+"_FILE"] = writeFile(t, "secret", "y\n")
			_, err := Load("", env(e))
			want := fmt.Sprintf("config: %s and %s_FILE are both set; set only one", name, name)
			if err == nil || err.Error() != want {
				t.Errorf("Load with %s and %s_FILE: err = %v; want %q", name, name, err, want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	shortKey := base64.StdEncoding.EncodeToString(testKey[:16])
	tests := []struct {
		name string
		yaml string // "" means env only
		env  map[string]string
		want string // the error's prefix when it begins "config: ", else a part of it
	}{
		// settings
		{"public_url missing", edit(t, `public_url: "http://localhost:8080"`, ""), nil, "config: public_url: required"},
		{"public_url relative", edit(t, `"http://localhost:8080"`, `"localhost:8080"`), nil, "config: public_url: must be an absolute http or https URL"},
		{"public_url path only", edit(t, `"http://localhost:8080"`, `"/optin"`), nil, "config: public_url: must be an absolute http or https URL"},
		{"public_url ftp", edit(t, `"http://localhost:8080"`, `"ftp://example.com"`), nil, "config: public_url: must be an absolute http or https URL"},
		{"public_url query", edit(t, `"http://localhost:8080"`, `"http://localhost:8080/?a=b"`), nil, "config: public_url: must not have a query or fragment"},
		{"public_url fragment", edit(t, `"http://localhost:8080"`, `"http://localhost:8080/#x"`), nil, "config: public_url: must not have a query or fragment"},
		{"public_url user", edit(t, `"http://localhost:8080"`, `"http://u:p@localhost:8080"`), nil, "config: public_url: must not contain a user name or password"},
		{"OPTIN_PUBLIC_URL", base, map[string]string{"OPTIN_PUBLIC_URL": "example.com"}, "config: OPTIN_PUBLIC_URL: must be an absolute http or https URL"},
		{"addr", edit(t, "public_url:", "addr: \"8080\"\npublic_url:"), nil, "config: addr: must be host:port"},
		{"OPTIN_ADDR", base, map[string]string{"OPTIN_ADDR": "localhost"}, "config: OPTIN_ADDR: must be host:port"},
		{"redis_url scheme", edit(t, "public_url:", "redis_url: \"http://localhost:6379\"\npublic_url:"), map[string]string{"OPTIN_MASTER_KEY": testKeyB64}, "config: redis_url: must be a redis://host:port"},
		{"OPTIN_REDIS_URL no host", base, map[string]string{"OPTIN_REDIS_URL": "redis://", "OPTIN_MASTER_KEY": testKeyB64}, "config: OPTIN_REDIS_URL: must be a redis://host:port"},
		{"no provider", edit(t, `twilio: {auth_token: "testtwiliotoken0000000000000000000"}`, ""), nil, "config: no SMS provider is configured: set a provider's webhook credentials in its section of the file or its environment variables (twilio.auth_token or OPTIN_TWILIO_AUTH_TOKEN, "},
		{"admin_token missing", edit(t, `admin_token: "test-admin-token-0000"`, ""), nil, "config: admin_token: required"},
		{"admin_token short", edit(t, `"test-admin-token-0000"`, `"short"`), nil, "config: admin_token: must be at least 16 characters"},
		{"OPTIN_ADMIN_TOKEN short", base, map[string]string{"OPTIN_ADMIN_TOKEN": "fifteen-chars-x"}, "config: OPTIN_ADMIN_TOKEN: must be at least 16 characters"},
		{"OPTIN_ADMIN_TOKEN_FILE short", base, map[string]string{"OPTIN_ADMIN_TOKEN_FILE": writeFile(t, "admin", "short\n")}, "config: OPTIN_ADMIN_TOKEN_FILE: must be at least 16 characters"},
		{"OPTIN_ADMIN_TOKEN_FILE missing", base, map[string]string{"OPTIN_ADMIN_TOKEN_FILE": filepath.Join(t.TempDir(), "missing")}, "config: OPTIN_ADMIN_TOKEN_FILE: open "},
		{"OPTIN_MASTER_KEY_FILE empty", base, map[string]string{"OPTIN_MASTER_KEY_FILE": writeFile(t, "key", "\n")}, "config: OPTIN_MASTER_KEY_FILE: "},
		{"master_key not base64", edit(t, "public_url:", "master_key: \"not base64!\"\npublic_url:"), nil, "config: master_key: must be base64 of 32 bytes"},
		{"OPTIN_MASTER_KEY 16 bytes", base, map[string]string{"OPTIN_MASTER_KEY": shortKey}, "config: OPTIN_MASTER_KEY: must be base64 of 32 bytes"},
		{"master_key required with redis_url", edit(t, "public_url:", "redis_url: \"redis://localhost:6379\"\npublic_url:"), nil, "config: master_key: required when redis_url is set"},
		{"master_key required with OPTIN_REDIS_URL", base, map[string]string{"OPTIN_REDIS_URL": "redis://localhost:6379"}, "config: master_key: required when OPTIN_REDIS_URL is set"},
		{"log.format", edit(t, "public_url:", "log: {format: text}\npublic_url:"), nil, "config: log.format: must be json or console"},
		{"OPTIN_LOG_LEVEL", base, map[string]string{"OPTIN_LOG_LEVEL": "trace"}, "config: OPTIN_LOG_LEVEL: must be debug, info, warn or error"},
		{"shards 0", edit(t, "public_url:", "shards: 0\npublic_url:"), nil, "config: shards: must be an integer in 1..1024"},
		{"OPTIN_SHARDS too many", base, map[string]string{"OPTIN_SHARDS": "1025"}, "config: OPTIN_SHARDS: must be an integer in 1..1024"},
		{"OPTIN_SHARDS not a number", base, map[string]string{"OPTIN_SHARDS": "many"}, "config: OPTIN_SHARDS: must be an integer in 1..1024"},
		{"OPTIN_SUBSCRIBER_CACHE negative", base, map[string]string{"OPTIN_SUBSCRIBER_CACHE": "-1"}, "config: OPTIN_SUBSCRIBER_CACHE: must be a whole number of subscribers (0 turns the cache off)"},
		{"shutdown_timeout 0", edit(t, "public_url:", "shutdown_timeout: 0s\npublic_url:"), nil, "config: shutdown_timeout: must be positive"},
		{"request_timeout negative", edit(t, "public_url:", "request_timeout: -1s\npublic_url:"), nil, "config: request_timeout: must be positive"},
		{"max_body_bytes 0", edit(t, "public_url:", "max_body_bytes: 0\npublic_url:"), nil, "config: max_body_bytes: must be positive"},

		// the file itself
		{"unknown key", edit(t, "public_url:", "pubic_url: x\npublic_url:"), nil, "optin.yaml: line 1: field pubic_url not found in type"},
		{"unknown campaign key", edit(t, "        code_ttl: 1h", "        code_ttl: 1h\n        keyword: JOIN"), nil, "optin.yaml: line 15: field keyword not found in type"},
		{"duration as an integer", edit(t, "code_ttl: 1h", "code_ttl: 3600"), nil, `optin.yaml: "3600" is not a duration such as 90s or 1h`},
		{"two documents", base + "---\naddr: \":1\"\n", nil, "optin.yaml: more than one YAML document"},

		// tenants
		{"tenant id missing", edit(t, "  - id: demo\n", "  - id: \"\"\n"), nil, "config: tenants[0].id: required"},
		{"revocation_scope", edit(t, "    name: ACME\n", "    name: ACME\n    revocation_scope: everything\n"), nil, "config: tenants[0].revocation_scope: must be number or tenant"},
		{"keyword_packs unknown", edit(t, "        campaigns: [deals, news]\n", "        campaigns: [deals, news]\n        keyword_packs: [klingon]\n"), nil, `unknown pack "klingon"`},
		{"keyword reads as a typo", edit(t, "keywords: [NEWS]", "keywords: [QUITS]"), nil, `keyword "QUITS" would read as a typo`},
		{"tenant id upper case", edit(t, "  - id: demo\n", "  - id: Demo\n"), nil, `config: tenants[0].id: "Demo" must be 1 to 64 of a-z, 0-9 and -`},
		{"tenant id too long", edit(t, "  - id: demo\n", "  - id: "+strings.Repeat("a", 65)+"\n"), nil, "config: tenants[0].id: "},
		{"tenant id duplicate", edit(t, "  - id: other\n", "  - id: demo\n"), nil, `config: tenants[1].id: "demo" is already the id of tenants[0]`},

		// campaigns
		{"campaign id bad", edit(t, "      - id: news\n", "      - id: news_letter\n"), nil, `config: tenants[0].campaigns[1].id: "news_letter" must be`},
		{"campaign id duplicate", edit(t, "      - id: news\n", "      - id: deals\n"), nil, `config: tenants[0].campaigns[1].id: "deals" is already the id of tenants[0].campaigns[0]`},
		{"campaign code_length", edit(t, "        code_ttl: 1h", "        code_length: 3"), nil, "config: tenants[0].campaigns[0]: invalid: campaign deals: code_length 3 is outside 4..10"},
		{"campaign code_ttl", edit(t, "code_ttl: 1h", "code_ttl: -1h"), nil, "config: tenants[0].campaigns[0]: invalid: campaign deals: code_ttl must be positive"},
		{"campaign prompt without code", edit(t, `"Reply {code} to confirm ACME News.`, `"Reply to confirm ACME News.`), nil, "config: tenants[0].campaigns[1]: invalid: campaign news: prompt lacks the {code} placeholder"},
		{"campaign help missing", edit(t, `        help: "Other Deals: help at example.com/help or 1-202-555-0198. Reply STOP to cancel."`, ""), nil, "config: tenants[1].campaigns[0]: invalid: campaign deals: help is empty"},
		{"campaign keyword STOP", edit(t, "[JOIN, DEALS]", "[JOIN, STOP]"), nil, `config: tenants[0].campaigns[0]: invalid: campaign deals: keyword "STOP" is an opt-out word`},
		{"campaign version negative", edit(t, "version: 1", "version: -1"), nil, "config: tenants[0].campaigns[0].version: must not be negative"},

		// numbers
		{"number missing", edit(t, `      - number: "+12025550101"`, `      - number: ""`), nil, "config: tenants[0].numbers[1].number: required"},
		{"number national format", edit(t, `"+12025550101"`, `"(202) 555-0101"`), nil, "config: tenants[0].numbers[1].number: invalid phone number: not in international (+) form; write it in E.164"},
		{"number national digits", edit(t, `"+12025550101"`, `"2025550101"`), nil, "config: tenants[0].numbers[1].number: invalid phone number: not in international (+) form"},
		{"number invalid", edit(t, `"+12025550101"`, `"+1202"`), nil, "config: tenants[0].numbers[1].number: invalid phone number"},
		{"number duplicate in a tenant", edit(t, `"+12025550101"`, `"+1 202 555 0100"`), nil, "config: tenants[0].numbers[1].number: +12025550100 is already listed at tenants[0].numbers[0].number"},
		{"number duplicate across tenants", edit(t, `"+12025550102"`, `"+12025550100"`), nil, "config: tenants[1].numbers[0].number: +12025550100 is already listed at tenants[0].numbers[0].number"},
		{"number campaigns missing", edit(t, "        campaigns: [news]\n", ""), nil, "config: tenants[0].numbers[1].campaigns: required"},
		{"number campaign unknown", edit(t, "campaigns: [news]", "campaigns: [news, weekly]"), nil, `config: tenants[0].numbers[1].campaigns[1]: tenant demo has no campaign "weekly"`},
		{"number campaign of another tenant", edit(t, "campaigns: [news]", "campaigns: [news, deals]\n        # deals exists in both"), nil, ""},
		{"number campaign twice", edit(t, "campaigns: [news]", "campaigns: [news, news]"), nil, `config: tenants[0].numbers[1].campaigns[1]: campaign "news" is listed twice`},
		{"number stop_reply missing", edit(t, `        stop_reply: "You're unsubscribed from Other Co. Reply START to rejoin."`, ""), nil, "config: tenants[1].numbers[0]: invalid: number +12025550102: stop_reply is empty"},
		{"number keyword clash", edit(t, "keywords: [NEWS]", "keywords: [DEALS]"), nil, `config: tenants[0].numbers[0]: invalid: number +12025550100: keyword "DEALS" used by campaigns deals and news`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.yaml != "" {
				path = writeFile(t, "optin.yaml", tt.yaml)
			}
			_, err := Load(path, env(tt.env))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Load: err = %v; want nil", err)
			case tt.want == "":
			case err == nil:
				t.Errorf("Load: err = nil; want %q", tt.want)
			case strings.HasPrefix(tt.want, "config: ") && !strings.HasPrefix(err.Error(), tt.want),
				!strings.Contains(err.Error(), tt.want):
				t.Errorf("Load: err = %q; want %q", err, tt.want)
			}
		})
	}
}

func TestLoadErrorsNeverShowSecrets(t *testing.T) {
	for _, tt := range []struct {
		name, secret string
		env          map[string]string
	}{
		{"short admin token", "short-secret", map[string]string{"OPTIN_ADMIN_TOKEN": "short-secret"}},
		{"bad master key", "c2VjcmV0LWtleQ==", map[string]string{"OPTIN_MASTER_KEY": "c2VjcmV0LWtleQ=="}},
		{"redis password", "hunter2", map[string]string{"OPTIN_REDIS_URL": "http://:hunter2@localhost:6379"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeFile(t, "optin.yaml", base), env(tt.env))
			if err == nil || strings.Contains(err.Error(), tt.secret) {
				t.Errorf("Load: err = %v; want an error without %q", err, tt.secret)
			}
		})
	}
}

func TestLoadExample(t *testing.T) {
	c, err := Load("example.yaml", env(nil))
	if err != nil {
		t.Fatalf("Load(example.yaml): %v", err)
	}
	if got, want := c.Embedded(), true; got != want {
		t.Errorf("Embedded() = %v; want %v", got, want)
	}
	if got, want := slices.Sorted(maps.Keys(c.Numbers())), []string{"+12025550100"}; !slices.Equal(got, want) {
		t.Fatalf("Numbers() keys = %v; want %v", got, want)
	}
	n := c.Numbers()["+12025550100"]
	if got, want := n.Tenant, "demo"; got != want {
		t.Errorf("Tenant = %q; want %q", got, want)
	}
	if got, want := len(n.Campaigns), 1; got != want {
		t.Fatalf("len(Campaigns) = %d; want %d", got, want)
	}
	camp := n.Campaigns[0]
	for _, tt := range []struct {
		name      string
		got, want any
	}{
		{"ID", camp.ID, "deals"},
		{"Name", camp.Name, "ACME Deals"},
		{"Keywords[0]", camp.Keywords[0], "JOIN"},
		{"CodeLength", camp.CodeLength, 6},
		{"CodeTTL", camp.CodeTTL, time.Hour},
		{"Expired (a default)", camp.Expired, "Your code has expired. Text JOIN again for a new one."},
		{"Prompt has frequency", strings.Contains(camp.Prompt, "Up to 4 msg/mo."), true},
		{"Prompt has rates", strings.Contains(camp.Prompt, "Msg&data rates may apply."), true},
		{"Help has STOP", strings.Contains(camp.Help, "Reply STOP to cancel."), true},
	} {
		if tt.got != tt.want {
			t.Errorf("example campaign %s = %v; want %v", tt.name, tt.got, tt.want)
		}
	}
	if err := n.Validate(); err != nil {
		t.Errorf("example number Validate() = %v; want nil", err)
	}
}

func TestLoadNumbers(t *testing.T) {
	yaml := edit(t, `"+12025550101"`, `"+1 (202) 555-0101"`)
	yaml = strings.Replace(yaml, `"+12025550102"`, `"55555"`, 1)
	c, err := Load(writeFile(t, "optin.yaml", yaml), env(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := slices.Sorted(maps.Keys(c.Numbers())), []string{"+12025550100", "+12025550101", "55555"}; !slices.Equal(got, want) {
		t.Fatalf("Numbers() keys = %v; want %v", got, want)
	}
	if got, want := c.Tenants[0].Numbers[1].Number, "+12025550101"; got != want {
		t.Errorf("Tenants[0].Numbers[1].Number = %q; want %q (normalised)", got, want)
	}
	for _, tt := range []struct {
		number, tenant string
		campaigns      []string
	}{
		{"+12025550100", "demo", []string{"deals", "news"}},
		{"+12025550101", "demo", []string{"news"}},
		{"55555", "other", []string{"deals"}},
	} {
		n := c.Numbers()[tt.number]
		var ids []string
		for _, camp := range n.Campaigns {
			ids = append(ids, camp.ID)
			if camp.MaxAttempts != 5 || camp.AlreadySubscribed == "" {
				t.Errorf("Numbers()[%q] campaign %s: defaults not applied: %+v", tt.number, camp.ID, camp)
			}
		}
		if n.Tenant != tt.tenant || n.E164 != tt.number || !slices.Equal(ids, tt.campaigns) {
			t.Errorf("Numbers()[%q] = {Tenant: %q, E164: %q, Campaigns: %v}; want {%q, %q, %v}",
				tt.number, n.Tenant, n.E164, ids, tt.tenant, tt.number, tt.campaigns)
		}
	}
	// Each number owns its campaigns: changing one does not change another.
	c.Numbers()["+12025550100"].Campaigns[1].Keywords[0] = "CHANGED"
	if got, want := c.Numbers()["+12025550101"].Campaigns[0].Keywords[0], "NEWS"; got != want {
		t.Errorf("keyword after changing another number's copy = %q; want %q", got, want)
	}
}

func TestConfigRedacted(t *testing.T) {
	e := map[string]string{
		"OPTIN_REDIS_URL":  "redis://user:redispass@redis.example.com:6379/0?password=querypass",
		"OPTIN_MASTER_KEY": testKeyB64,
	}
	c, err := Load(writeFile(t, "optin.yaml", base), env(e))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	outputs := map[string]string{
		"String": c.String(),
		"%v":     fmt.Sprintf("%v", c),
		"%+v":    fmt.Sprintf("%+v", *c),
		"%#v":    fmt.Sprintf("%#v", c),
		"json":   string(j),
	}
	secrets := []string{twilioSettings(t, c).AuthToken, c.AdminToken, testKeyB64, string(testKey[:]), "redispass", "querypass"}
	for name, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s = %q; contains the secret %q", name, out, s)
			}
		}
		for _, want := range []string{"redis.example.com:6379", "admin_token", "set", "http://localhost:8080"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s = %q; want it to contain %q", name, out, want)
			}
		}
	}
	if got, want := c.String(), "addr=:8080 public_url=http://localhost:8080 redis=redis://user:xxxxx@redis.example.com:6379/0 data_dir=./data log=json/info shards=16 shutdown_timeout=15s request_timeout=5s max_body_bytes=65536 tenants=2 numbers=3 twilio_auth_token=set admin_token=set master_key=set"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
}

func TestLoadPacksAndScope(t *testing.T) {
	yaml := strings.Replace(base, "    name: ACME\n", "    name: ACME\n    revocation_scope: tenant\n", 1)
	yaml = strings.Replace(yaml, "        campaigns: [deals, news]\n", "        campaigns: [deals, news]\n        keyword_packs: [es, fr]\n", 1)
	cfg, err := Load(writeFile(t, "config.yaml", yaml), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Numbers()["+12025550101"]
	if got := len(n.Scope); got != 2 {
		t.Errorf("tenant scope of +12025550101 holds %d campaigns; want both of tenant demo", got)
	}
	if got := cfg.Numbers()["+12025550100"].Packs; strings.Join(got, ",") != "es,fr" {
		t.Errorf("keyword packs = %v; want es, fr", got)
	}
	if got := cfg.Numbers()["+12025550102"].Scope; got != nil {
		t.Errorf("scope of tenant other = %v; want nil (number)", got)
	}
}
