package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// result is what one optinctl run gave.
type result struct {
	code           int
	stdout, stderr string
}

// ctl runs optinctl in-process against f with env (OPTIN_URL and
// OPTIN_TOKEN default to the fake's) and stdin.
func ctl(t testing.TB, f *fake, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		switch k {
		case "OPTIN_URL":
			if f != nil {
				return f.srv.URL
			}
		case "OPTIN_TOKEN":
			return fakeToken
		}
		return ""
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), args, getenv, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

// mustCode fails the test unless r exited with want.
func mustCode(t testing.TB, r result, want int, args ...string) {
	t.Helper()
	if r.code != want {
		t.Fatalf("optinctl %s: exit %d; want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
}

// writeFile writes a campaigns file into a temporary directory.
func writeFile(t testing.TB, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "campaigns.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const campaignsYAML = `tenants:
  - id: demo
    name: ACME
    campaigns:
      - id: deals
        name: ACME Deals
        keywords: [JOIN]
        prompt: "Reply {code} to confirm ACME Deals. Msg&data rates may apply. Reply HELP for help, STOP to cancel."
        confirmation: "You're subscribed to ACME Deals."
        help: "ACME Deals: help at example.com/help."
        code_ttl: 1h
      - id: vip
        name: ACME VIP
        keywords: [VIP]
        prompt: "Reply {code} to confirm ACME VIP. Msg&data rates may apply."
        confirmation: "You're subscribed to ACME VIP."
        help: "ACME VIP: help at example.com/help."
    numbers:
      - number: "+1 202 555 0100"
        campaigns: [deals, vip]
`

// wantWrites fails the test unless the writes among reqs are want, in
// order; what names the command that made them.
func wantWrites(t testing.TB, what string, reqs []fakeReq, want ...string) {
	t.Helper()
	if got := writes(reqs); !slices.Equal(got, want) {
		t.Fatalf("%s wrote %q; want %q", what, got, want)
	}
}

// TestApplyLifecycle applies a file to an empty server, re-applies it (no
// write), changes it (dry run: diff and exit 7, no write; then applied),
// and prunes, checking every request.
func TestApplyLifecycle(t *testing.T) {
	f := newFake(t)
	path := writeFile(t, campaignsYAML)

	r := ctl(t, f, nil, "", "apply", "-f", path)
	mustCode(t, r, exitOK, "apply")
	wantWrites(t, "first apply", f.requests(),
		"PUT /v1/tenants/demo",
		"PUT /v1/tenants/demo/campaigns/deals",
		"PUT /v1/tenants/demo/campaigns/vip",
		"PUT /v1/tenants/demo/numbers/%2B12025550100",
	)
	for _, s := range []string{"+ tenant demo (create)", "+ campaign demo/deals (create)", `    keywords: ["JOIN"]`, `    code_ttl: "1h0m0s"`, "+ number demo/+12025550100 (create)", "4 to create, 0 to update, 0 to delete, 0 unchanged", "created campaign demo/vip"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("first apply's output lacks %q:\n%s", s, r.stdout)
		}
	}

	r = ctl(t, f, nil, "", "apply", "-f", path)
	mustCode(t, r, exitOK, "apply again")
	if got := writes(f.requests()); len(got) != 0 {
		t.Fatalf("second apply of the same file wrote %q; want nothing", got)
	}
	if !strings.Contains(r.stdout, "0 to create, 0 to update, 0 to delete, 4 unchanged") {
		t.Errorf("second apply's output:\n%s", r.stdout)
	}

	// The file changes deals' help text and drops vip from the file and
	// from the number.
	changed := strings.Replace(campaignsYAML, "help at example.com/help.\"\n        code_ttl", "help at example.com/faq.\"\n        code_ttl", 1)
	changed = strings.Replace(changed, "campaigns: [deals, vip]", "campaigns: [deals]", 1)
	i := strings.Index(changed, "      - id: vip")
	j := strings.Index(changed, "    numbers:")
	changed = changed[:i] + changed[j:]
	path2 := writeFile(t, changed)

	r = ctl(t, f, nil, "", "apply", "-f", path2, "--dry-run", "--prune")
	mustCode(t, r, exitDrift, "apply --dry-run")
	if got := writes(f.requests()); len(got) != 0 {
		t.Fatalf("apply --dry-run wrote %q; want nothing", got)
	}
	for _, s := range []string{
		"~ campaign demo/deals (update)\n    help: \"ACME Deals: help at example.com/help.\" → \"ACME Deals: help at example.com/faq.\"\n",
		"~ number demo/+12025550100 (update)\n    campaigns: [\"deals\",\"vip\"] → [\"deals\"]\n",
		"- campaign demo/vip (delete)",
	} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("dry run's diff lacks %q:\n%s", s, r.stdout)
		}
	}

	r = ctl(t, f, nil, "", "apply", "-f", path2)
	mustCode(t, r, exitOK, "apply without --prune")
	if !strings.Contains(r.stdout, "! campaign demo/vip is not in the file; --prune deletes it") {
		t.Errorf("apply without --prune does not name what it leaves:\n%s", r.stdout)
	}
	reqs := f.requests()
	wantWrites(t, "apply without --prune", reqs, "PUT /v1/tenants/demo/campaigns/deals", "PUT /v1/tenants/demo/numbers/%2B12025550100")
	for _, q := range reqs {
		if q.Method == "PUT" && !strings.Contains(q.Body, `"version":1`) {
			t.Errorf("%s body %s; want the version it read (1), so that a change made meanwhile gives 409", q, q.Body)
		}
	}

	r = ctl(t, f, nil, "", "apply", "-f", path2, "--prune", "-o", "json")
	mustCode(t, r, exitOK, "apply --prune")
	wantWrites(t, "apply --prune", f.requests(), "DELETE /v1/tenants/demo/campaigns/vip")
	var rep applyReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("apply -o json: %v\n%s", err, r.stdout)
	}
	if rep.Applied != 1 || rep.Summary["delete"] != 1 || rep.Summary["unchanged"] != 3 {
		t.Errorf("apply -o json = %+v; want 1 applied, 1 delete, 3 unchanged", rep)
	}
}

// TestApplyPruneOrder: numbers are deleted before the campaigns they use,
// and the file's other tenants' objects are never touched.
func TestApplyPruneOrder(t *testing.T) {
	f := newFake(t)
	mustCode(t, ctl(t, f, nil, "", "apply", "-f", writeFile(t, campaignsYAML)), exitOK)
	other := strings.ReplaceAll(strings.ReplaceAll(campaignsYAML, "id: demo", "id: other"), "0100", "0101")
	mustCode(t, ctl(t, f, nil, "", "apply", "-f", writeFile(t, other)), exitOK)
	f.requests()

	onlyTenant := "tenants:\n  - id: demo\n    name: ACME\n"
	r := ctl(t, f, nil, "", "apply", "--prune", "-f", writeFile(t, onlyTenant))
	mustCode(t, r, exitOK, "apply --prune")
	wantWrites(t, "apply --prune", f.requests(),
		"DELETE /v1/tenants/demo/numbers/%2B12025550100",
		"DELETE /v1/tenants/demo/campaigns/deals",
		"DELETE /v1/tenants/demo/campaigns/vip",
	)
	if len(f.campaigns["other"]) != 2 || len(f.numbers["other"]) != 1 {
		t.Errorf("tenant other after pruning demo: %d campaigns, %d numbers; want 2, 1", len(f.campaigns["other"]), len(f.numbers["other"]))
	}
}

// TestApplyServerErrors: a validation error names the field and stops
// apply (exit 5) after what it already did; a version conflict is exit 6.
func TestApplyServerErrors(t *testing.T) {
	f := newFake(t)
	bad := strings.Replace(campaignsYAML, "Reply {code} to confirm ACME VIP.", "Confirm ACME VIP.", 1)
	r := ctl(t, f, nil, "", "apply", "-f", writeFile(t, bad))
	mustCode(t, r, exitInvalid, "apply")
	if want := "optinctl: apply: create campaign demo/vip: 400: prompt: prompt lacks the {code} placeholder"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr = %q; want it to contain %q", r.stderr, want)
	}
	if got, want := writes(f.requests()), []string{"PUT /v1/tenants/demo", "PUT /v1/tenants/demo/campaigns/deals", "PUT /v1/tenants/demo/campaigns/vip"}; !slices.Equal(got, want) {
		t.Errorf("apply wrote %q; want %q (stopping at the refused one)", got, want)
	}

	f.failOn("PUT", "/v1/tenants/demo/campaigns/vip", 409, `{"error":"version conflict"}`)
	r = ctl(t, f, nil, "", "apply", "-f", writeFile(t, campaignsYAML))
	mustCode(t, r, exitConflict, "apply")
}

// TestApplyExampleConfig: the gateway's own config/example.yaml applies as
// it is (its other settings are left alone).
func TestApplyExampleConfig(t *testing.T) {
	f := newFake(t)
	r := ctl(t, f, nil, "", "apply", "--dry-run", "-f", "../../config/example.yaml")
	mustCode(t, r, exitDrift, "apply --dry-run -f config/example.yaml")
	if !strings.Contains(r.stdout, "3 to create") {
		t.Errorf("dry run of example.yaml:\n%s", r.stdout)
	}
	mustCode(t, ctl(t, f, nil, "", "apply", "-f", "-", "-o", "json"), exitInvalid) // empty stdin: no tenants
	b, err := os.ReadFile("../../config/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	mustCode(t, ctl(t, f, nil, string(b), "apply", "-f", "-"), exitOK)
	mustCode(t, ctl(t, f, nil, string(b), "apply", "-f", "-", "--dry-run"), exitOK)
}

// TestCampaignsFileErrors: every bad file is refused before any request,
// naming where it is wrong; nothing is written.
func TestCampaignsFileErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"empty", "", "tenants: required"},
		{"no tenants", "addr: \":8080\"\n", "tenants: required"},
		{"unknown key", "tenants:\n  - id: demo\n    nmae: ACME\n", "field nmae not found"},
		{"bad tenant id", "tenants:\n  - id: Demo\n", `tenants[0].id: "Demo" must be`},
		{"duplicate tenant", "tenants:\n  - id: demo\n  - id: demo\n", "tenants[1].id: already listed at tenants[0].id"},
		{"missing campaign id", "tenants:\n  - id: demo\n    campaigns:\n      - name: x\n", `tenants[0].campaigns[0].id: "" must be`},
		{"duplicate campaign", "tenants:\n  - id: demo\n    campaigns:\n      - id: a\n      - id: a\n", "tenants[0].campaigns[1].id: already listed"},
		{"bad number", "tenants:\n  - id: demo\n    numbers:\n      - number: \"12\"\n", "tenants[0].numbers[0].number"},
		{"number twice", "tenants:\n  - id: a\n    numbers: [{number: \"+12025550100\"}]\n  - id: b\n    numbers: [{number: \"+1 202 555 0100\"}]\n", "tenants[1].numbers[0].number: already listed at tenants[0].numbers[0].number"},
		{"unknown campaign", "tenants:\n  - id: demo\n    numbers: [{number: \"+12025550100\", campaigns: [deals]}]\n", `tenants[0].numbers[0].campaigns[0]: tenant demo lists no campaign "deals"`},
		{"bad duration", "tenants:\n  - id: demo\n    campaigns: [{id: a, code_ttl: soon}]\n", `"soon" is not a duration`},
		{"two documents", "tenants: [{id: demo}]\n---\ntenants: []\n", "more than one YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			r := ctl(t, f, nil, "", "apply", "-f", writeFile(t, tt.yaml))
			mustCode(t, r, exitInvalid, "apply")
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr = %q; want it to contain %q", r.stderr, tt.want)
			}
			if reqs := f.requests(); len(reqs) != 0 {
				t.Errorf("a bad file sent %v; want no request", reqs)
			}
		})
	}
}
