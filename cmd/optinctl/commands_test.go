package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// seed applies the test campaigns file, so that tenant demo exists.
func seed(t testing.TB, f *fake) {
	t.Helper()
	mustCode(t, ctl(t, f, nil, "", "apply", "-f", writeFile(t, campaignsYAML)), exitOK)
	f.requests()
}

// TestCommands checks each command's request (method, path, body,
// X-Optin-Reason), its table and that its -o json output parses.
func TestCommands(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		method string
		path   string
		body   string // "" for none; else compared as JSON
		reason string
		table  []string // in the table output
		hidden []string // never in the table output
	}{
		{name: "get tenants", args: []string{"get", "tenants"}, method: "GET", path: "/v1/tenants",
			table: []string{"ID    NAME  REVOCATION_SCOPE", "demo  ACME"}},
		{name: "get one tenant", args: []string{"get", "tenants", "demo"}, method: "GET", path: "/v1/tenants/demo",
			table: []string{"demo  ACME"}},
		{name: "get campaigns", args: []string{"get", "campaigns", "-t", "demo"}, method: "GET", path: "/v1/tenants/demo/campaigns",
			table: []string{"deals  ACME Deals  JOIN      1h0m0s", "vip    ACME VIP    VIP       0s"}},
		{name: "get numbers", args: []string{"get", "numbers", "--tenant", "demo"}, method: "GET", path: "/v1/tenants/demo/numbers",
			table: []string{"+12025550100  deals,vip"}},
		{name: "get one number", args: []string{"get", "numbers", "+1 (202) 555-0100", "-t", "demo"}, method: "GET", path: "/v1/tenants/demo/numbers/%2B12025550100",
			table: []string{"+12025550100"}},
		{name: "subscriber show", args: []string{"subscriber", "show", "+12025550123", "-t", "demo", "--reason", "ticket 42"}, method: "GET",
			path: "/v1/tenants/demo/subscribers/%2B12025550123", reason: "ticket 42",
			table: []string{"phone:      +1202•••0123", "deals     subscribed  2026-01-02T03:04:05Z"}, hidden: []string{"+12025550123"}},
		{name: "subscriber show --reveal", args: []string{"subscriber", "show", "+12025550123", "-t", "demo", "--reveal"}, method: "GET",
			path: "/v1/tenants/demo/subscribers/%2B12025550123", table: []string{"phone:      +12025550123"}},
		{name: "subscriber history", args: []string{"subscriber", "history", "+1 202 555 0123", "-t", "demo"}, method: "GET",
			path:  "/v1/tenants/demo/subscribers/%2B12025550123/history",
			table: []string{"AT                    CAMPAIGN  FROM     TO          REASON     CAUSE                                      NUMBER", "2026-01-02T03:04:05Z  deals     pending  subscribed  confirmed  twilio SM00000000000000000000000000000002  +12025550100"}},
		{name: "subscriber export", args: []string{"subscriber", "export", "+12025550123", "-t", "demo", "--reason", "DSAR 7"}, method: "GET",
			path: "/v1/tenants/demo/subscribers/%2B12025550123/export", reason: "DSAR 7", table: []string{`"phone":"+12025550123"`}},
		{name: "subscriber opt-out", args: []string{"subscriber", "opt-out", "+12025550123", "-t", "demo", "--reason", "asked by phone", "--campaign", "deals"}, method: "POST",
			path: "/v1/tenants/demo/subscribers/%2B12025550123/opt-out", body: `{"campaign":"deals","reason":"asked by phone"}`, reason: "asked by phone",
			table: []string{"deals     opted_out"}},
		{name: "subscriber opt-out of all", args: []string{"subscriber", "opt-out", "+12025550123", "-t", "demo", "--reason", "asked"}, method: "POST",
			path: "/v1/tenants/demo/subscribers/%2B12025550123/opt-out", body: `{"reason":"asked"}`, reason: "asked"},
		{name: "subscriber erase", args: []string{"subscriber", "erase", "+12025550123", "-t", "demo", "--yes"}, method: "DELETE",
			path: "/v1/tenants/demo/subscribers/%2B12025550123", table: []string{"erased subscriber +1•••0123 of tenant demo"}, hidden: []string{"+12025550123"}},
		{name: "tokens create", args: []string{"tokens", "create", "-t", "demo", "--role", "support", "--name", "ci"}, method: "POST",
			path: "/v1/tenants/demo/tokens", body: `{"role":"support","name":"ci"}`, table: []string{"token:       ogt_0000000000000001_AAAA", "role:        support"}},
		{name: "tokens list", args: []string{"tokens", "list", "-t", "demo"}, method: "GET", path: "/v1/tenants/demo/tokens",
			table: []string{"tok_0000000000000001  support  ci    2026-01-02T03:04:05Z"}},
		{name: "tokens revoke", args: []string{"tokens", "revoke", "tok_0000000000000001", "-t", "demo"}, method: "DELETE",
			path: "/v1/tenants/demo/tokens/tok_0000000000000001", table: []string{"revoked token tok_0000000000000001"}},
	}
	for _, tt := range tests {
		for _, output := range []string{"table", "json"} {
			t.Run(tt.name+"/"+output, func(t *testing.T) {
				f := newFake(t)
				seed(t, f)
				f.tokens["tok_0000000000000001"] = map[string]any{"id": "tok_0000000000000001", "tenant": "demo", "role": "support", "name": "ci", "created_at": "2026-01-02T03:04:05Z"}
				if tt.name == "tokens create" {
					delete(f.tokens, "tok_0000000000000001")
				}
				r := ctl(t, f, nil, "", append(tt.args, "-o", output)...)
				mustCode(t, r, exitOK, tt.args...)
				reqs := f.requests()
				if len(reqs) != 1 {
					t.Fatalf("requests = %v; want one", reqs)
				}
				q := reqs[0]
				if q.Method != tt.method || q.Path != tt.path {
					t.Errorf("request = %s %s; want %s %s", q.Method, q.Path, tt.method, tt.path)
				}
				if q.Reason != tt.reason {
					t.Errorf("X-Optin-Reason = %q; want %q", q.Reason, tt.reason)
				}
				if q.Auth != "Bearer "+fakeToken {
					t.Errorf("Authorization = %q; want the bearer token", q.Auth)
				}
				if tt.body != "" && !sameJSON(t, q.Body, tt.body) {
					t.Errorf("body = %s; want %s", q.Body, tt.body)
				}
				if tt.body == "" && q.Body != "" {
					t.Errorf("body = %s; want none", q.Body)
				}
				if output == "json" {
					var v any
					if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
						t.Fatalf("-o json output does not parse: %v\n%s", err, r.stdout)
					}
					return
				}
				for _, s := range tt.table {
					if !strings.Contains(r.stdout, s) {
						t.Errorf("output lacks %q:\n%s", s, r.stdout)
					}
				}
				for _, s := range tt.hidden {
					if strings.Contains(r.stdout, s) {
						t.Errorf("output shows %q:\n%s", s, r.stdout)
					}
				}
			})
		}
	}
}

func sameJSON(t testing.TB, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatalf("%q: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// TestExitCodes maps each status of the server to its documented code.
func TestExitCodes(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   int
		stderr string
	}{
		{400, `{"error":"reason is required","field":"reason"}`, exitInvalid, "optinctl: 400: reason: reason is required"},
		{401, `{"error":"missing or invalid bearer token"}`, exitAuth, "optinctl: 401: missing or invalid bearer token"},
		{403, `{"error":"forbidden"}`, exitAuth, "optinctl: 403: forbidden"},
		{404, `{"error":"not found"}`, exitNotFound, "optinctl: 404: not found"},
		{409, `{"error":"version conflict"}`, exitConflict, "optinctl: 409: version conflict"},
		{429, `{"error":"too many failed authentications"}`, exitFailure, "optinctl: 429: too many"},
		{500, `oops`, exitFailure, "optinctl: 500: Internal Server Error"},
		{503, ``, exitFailure, "optinctl: 503: Service Unavailable"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			f := newFake(t)
			f.failOn("GET", "/v1/tenants", tt.status, tt.body)
			r := ctl(t, f, nil, "", "get", "tenants")
			mustCode(t, r, tt.want, "get tenants")
			if !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stderr = %q; want it to contain %q", r.stderr, tt.stderr)
			}
		})
	}

	t.Run("wrong token", func(t *testing.T) {
		f := newFake(t)
		r := ctl(t, f, map[string]string{"OPTIN_TOKEN": "not-the-token-0000"}, "", "get", "tenants")
		mustCode(t, r, exitAuth, "get tenants")
		if strings.Contains(r.stderr, "not-the-token") {
			t.Errorf("stderr shows the token: %q", r.stderr)
		}
	})
	t.Run("no server", func(t *testing.T) {
		f := newFake(t)
		f.srv.Close()
		mustCode(t, ctl(t, f, nil, "", "get", "tenants"), exitFailure, "get tenants")
	})
	t.Run("unknown subscriber", func(t *testing.T) {
		f := newFake(t)
		seed(t, f)
		mustCode(t, ctl(t, f, nil, "", "subscriber", "show", "+13125550142", "-t", "demo"), exitNotFound)
	})
}

// TestUsageErrors: a wrong command line is exit 2, with a message, before
// any request.
func TestUsageErrors(t *testing.T) {
	tokenFile := writeTokenFile(t)
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		stderr string
	}{
		{"no command", nil, nil, "no command"},
		{"unknown command", nil, []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown subcommand", nil, []string{"get", "widgets"}, `get: unknown subcommand "widgets"`},
		{"subcommand missing", nil, []string{"tokens"}, "tokens: which one?"},
		{"unknown flag", nil, []string{"get", "tenants", "--colour"}, "flag provided but not defined: -colour"},
		{"flag of another command", nil, []string{"get", "tenants", "--prune"}, "get tenants: --prune does not apply here"},
		{"bad output", nil, []string{"get", "tenants", "-o", "yaml"}, "-o yaml: must be table or json"},
		{"no token", map[string]string{"OPTIN_TOKEN": ""}, []string{"get", "tenants"}, "no token"},
		{"two tokens", map[string]string{"OPTIN_TOKEN_FILE": tokenFile}, []string{"get", "tenants"}, "OPTIN_TOKEN and OPTIN_TOKEN_FILE are both set"},
		{"bad url", map[string]string{"OPTIN_URL": "localhost:8080"}, []string{"get", "tenants"}, "must be an http or https URL"},
		{"no tenant", nil, []string{"get", "campaigns"}, "get campaigns: which tenant?"},
		{"no phone", nil, []string{"subscriber", "show", "-t", "demo"}, "subscriber show: missing PHONE"},
		{"bad phone", nil, []string{"subscriber", "show", "12", "-t", "demo"}, `subscriber show: "12"`},
		{"two phones", nil, []string{"subscriber", "show", "+12025550123", "+12025550124", "-t", "demo"}, "unexpected argument"},
		{"opt-out without reason", nil, []string{"subscriber", "opt-out", "+12025550123", "-t", "demo"}, "--reason is required"},
		{"erase without --yes", nil, []string{"subscriber", "erase", "+12025550123", "-t", "demo"}, "cannot be undone; add --yes"},
		{"campaign flag on show", nil, []string{"subscriber", "show", "+12025550123", "-t", "demo", "--campaign", "deals"}, "--campaign does not apply here"},
		{"token without role", nil, []string{"tokens", "create", "-t", "demo"}, "--role is required"},
		{"token with bad role", nil, []string{"tokens", "create", "-t", "demo", "--role", "root"}, `--role "root": must be admin, support, auditor, sender or metrics`},
		{"revoke without id", nil, []string{"tokens", "revoke", "-t", "demo"}, "missing token ID"},
		{"apply without file", nil, []string{"apply"}, "-f FILE is required"},
		{"apply missing file", nil, []string{"apply", "-f", "/nonexistent/campaigns.yaml"}, "no such file"},
		{"apply argument", nil, []string{"apply", "campaigns.yaml"}, `unexpected argument "campaigns.yaml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			r := ctl(t, f, tt.env, "", tt.args...)
			mustCode(t, r, exitUsage, tt.args...)
			if !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stderr = %q; want it to contain %q", r.stderr, tt.stderr)
			}
			if reqs := f.requests(); len(reqs) != 0 {
				t.Errorf("a usage error sent %v; want no request", reqs)
			}
		})
	}
}

// TestTokenSources: the token comes from --token, OPTIN_TOKEN or the file
// OPTIN_TOKEN_FILE names; the tenant from OPTIN_TENANT.
func TestTokenSources(t *testing.T) {
	f := newFake(t)
	seed(t, f)
	tokenFile := writeTokenFile(t)
	mustCode(t, ctl(t, f, map[string]string{"OPTIN_TOKEN": ""}, "", "get", "tenants", "--token", fakeToken), exitOK)
	mustCode(t, ctl(t, f, map[string]string{"OPTIN_TOKEN": "", "OPTIN_TOKEN_FILE": tokenFile}, "", "get", "tenants"), exitOK)
	mustCode(t, ctl(t, f, map[string]string{"OPTIN_TENANT": "demo"}, "", "get", "campaigns"), exitOK)
	r := ctl(t, f, nil, "", "help")
	mustCode(t, r, exitOK, "help")
	for _, s := range []string{"exit codes:", "7  apply --dry-run found changes", "OPTIN_TOKEN_FILE"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("help lacks %q", s)
		}
	}
}

// writeTokenFile writes the fake's token, with a newline, into a file.
func writeTokenFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(fakeToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
