package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeToken is the operator token the fake accepts.
const fakeToken = "test-operator-token-0001"

// fakeReq is one request the fake received.
type fakeReq struct {
	Method, Path, Body, Reason, Auth string
	DryRun                           bool // ?dry_run=true: writes nothing
}

func (r fakeReq) String() string { return r.Method + " " + r.Path }

// fake is an in-memory admin API as the contract describes the routes
// optinctl uses: config objects with versions, subscribers, tokens, the
// error documents. It stores objects as the JSON it was given, without
// defaults.
type fake struct {
	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	reqs      []fakeReq
	tenants   map[string]map[string]any
	campaigns map[string]map[string]map[string]any // tenant → id → object
	numbers   map[string]map[string]map[string]any // tenant → number → object
	subs      map[string]bool                      // tenant/phone of subscribers that exist
	optedOut  map[string]bool
	tokens    map[string]map[string]any
	fail      map[string]fakeFail // "METHOD path" → forced answer
}

type fakeFail struct {
	status int
	body   string
}

// newFake starts a fake admin API, closed at the end of the test.
func newFake(t testing.TB) *fake {
	t.Helper()
	f := &fake{
		t:         t,
		tenants:   map[string]map[string]any{},
		campaigns: map[string]map[string]map[string]any{},
		numbers:   map[string]map[string]map[string]any{},
		subs:      map[string]bool{"demo/+12025550123": true},
		optedOut:  map[string]bool{},
		tokens:    map[string]map[string]any{},
		fail:      map[string]fakeFail{},
	}
	mux := http.NewServeMux()
	const sub = "/v1/tenants/{t}/subscribers/{phone}"
	for _, r := range []struct {
		handler  http.HandlerFunc
		patterns []string
	}{
		{f.handleTenantsList, []string{"GET /v1/tenants"}},
		{f.handleTenant, []string{"/v1/tenants/{t}"}},
		{f.handleObjectsList, []string{"GET /v1/tenants/{t}/{kind}"}},
		{f.handleObject, []string{"/v1/tenants/{t}/{kind}/{id}"}},
		{f.handleSubscriber, []string{"GET " + sub, "DELETE " + sub}},
		{f.handleSubscriberPart, []string{"GET " + sub + "/{what}", "POST " + sub + "/opt-out"}},
		{f.handleTokens, []string{"POST /v1/tenants/{t}/tokens", "GET /v1/tenants/{t}/tokens", "DELETE /v1/tenants/{t}/tokens/{id}"}},
	} {
		for _, p := range r.patterns {
			mux.HandleFunc(p, r.handler)
		}
	}
	f.srv = httptest.NewServer(f.middleware(mux))
	t.Cleanup(f.srv.Close)
	return f
}

// failOn makes the fake answer "METHOD path" with status and body.
func (f *fake) failOn(method, path string, status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[method+" "+path] = fakeFail{status, body}
}

// requests returns the requests received so far and forgets them.
func (f *fake) requests() []fakeReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.reqs
	f.reqs = nil
	return r
}

// writes returns the PUT, POST and DELETE requests among reqs, dry runs
// left out.
func writes(reqs []fakeReq) []string {
	var out []string
	for _, r := range reqs {
		if r.Method != http.MethodGet && !r.DryRun {
			out = append(out, r.String())
		}
	}
	return out
}

func (f *fake) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		f.mu.Lock()
		f.reqs = append(f.reqs, fakeReq{r.Method, r.URL.EscapedPath(), string(b), r.Header.Get("X-Optin-Reason"), r.Header.Get("Authorization"), r.URL.Query().Get("dry_run") == "true"})
		fail, failing := f.fail[r.Method+" "+r.URL.EscapedPath()]
		f.mu.Unlock()
		switch {
		case failing:
			w.WriteHeader(fail.status)
			io.WriteString(w, fail.body)
		case r.Header.Get("Authorization") != "Bearer "+fakeToken:
			w.Header().Set("WWW-Authenticate", `Bearer realm="optin"`)
			writeJSON(w, 401, map[string]any{"error": "missing or invalid bearer token"})
		default:
			f.mu.Lock()
			defer f.mu.Unlock()
			next.ServeHTTP(w, r)
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func notFound(w http.ResponseWriter) { writeJSON(w, 404, map[string]any{"error": "not found"}) }

func invalid(w http.ResponseWriter, field, msg string) {
	writeJSON(w, 400, map[string]any{"error": msg, "field": field})
}

func items(m map[string]map[string]any) map[string]any {
	out := []map[string]any{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return map[string]any{"items": out}
}

func (f *fake) handleTenantsList(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, items(f.tenants))
}

func (f *fake) handleTenant(w http.ResponseWriter, r *http.Request) {
	t := r.PathValue("t")
	if r.Method == http.MethodPut {
		f.put(w, r, f.tenants, t, "id")
		return
	}
	obj, ok := f.tenants[t]
	switch {
	case !ok:
		notFound(w)
	case r.Method == http.MethodGet:
		writeJSON(w, 200, obj)
	case r.Method == http.MethodDelete:
		delete(f.tenants, t)
		w.WriteHeader(204)
	default:
		w.WriteHeader(405)
	}
}

// collection returns the tenant's campaigns or numbers, nil when the
// tenant or the kind does not exist.
func (f *fake) collection(t, kind string) map[string]map[string]any {
	if f.tenants[t] == nil {
		return nil
	}
	var all map[string]map[string]map[string]any
	switch kind {
	case "campaigns":
		all = f.campaigns
	case "numbers":
		all = f.numbers
	default:
		return nil
	}
	if all[t] == nil {
		all[t] = map[string]map[string]any{}
	}
	return all[t]
}

func (f *fake) handleObjectsList(w http.ResponseWriter, r *http.Request) {
	c := f.collection(r.PathValue("t"), r.PathValue("kind"))
	if c == nil {
		notFound(w)
		return
	}
	writeJSON(w, 200, items(c))
}

func (f *fake) handleObject(w http.ResponseWriter, r *http.Request) {
	t, kind, id := r.PathValue("t"), r.PathValue("kind"), r.PathValue("id")
	c := f.collection(t, kind)
	if c == nil {
		notFound(w)
		return
	}
	key := map[string]string{"campaigns": "id", "numbers": "number"}[kind]
	switch r.Method {
	case http.MethodPut:
		f.put(w, r, c, id, key)
	case http.MethodGet:
		if obj, ok := c[id]; ok {
			writeJSON(w, 200, obj)
			return
		}
		notFound(w)
	case http.MethodDelete:
		if _, ok := c[id]; !ok {
			notFound(w)
			return
		}
		if kind == "campaigns" {
			for _, n := range f.numbers[t] {
				if slices.Contains(n["campaigns"].([]any), any(id)) {
					writeJSON(w, 409, map[string]any{"error": "a number uses the campaign", "field": "campaigns"})
					return
				}
			}
		}
		delete(c, id)
		w.WriteHeader(204)
	default:
		w.WriteHeader(405)
	}
}

// put stores the body under id: 201 created, 200 updated (version + 1) or
// unchanged (same version), 409 for a stale version, 400 for a prompt
// without {code} or an id that is not the path's.
func (f *fake) put(w http.ResponseWriter, r *http.Request, c map[string]map[string]any, id, key string) {
	var obj map[string]any
	if err := json.NewDecoder(r.Body).Decode(&obj); err != nil {
		invalid(w, "", "body is not JSON")
		return
	}
	if obj[key] != id {
		invalid(w, key, fmt.Sprintf("%s does not match the path", key))
		return
	}
	if p, ok := obj["prompt"].(string); ok && !strings.Contains(p, "{code}") {
		invalid(w, "prompt", "prompt lacks the {code} placeholder")
		return
	}
	old, exists := c[id]
	if v, ok := obj["version"]; ok && (!exists || v != old["version"]) {
		writeJSON(w, 409, map[string]any{"error": "version conflict"})
		return
	}
	delete(obj, "version")
	if r.URL.Query().Get("dry_run") == "true" {
		writeJSON(w, 200, fakePlan(old, obj, exists))
		return
	}
	obj["updated_by"] = "operator"
	obj["updated_at"] = "2026-01-02T03:04:05Z"
	status := 201
	obj["version"] = 1.0
	if exists {
		status = 200
		obj["version"] = old["version"]
		same := maps.Clone(old)
		same["version"] = obj["version"]
		if b1, b2 := mustJSON(obj), mustJSON(same); b1 != b2 {
			obj["version"] = old["version"].(float64) + 1
		}
	}
	c[id] = obj
	writeJSON(w, status, obj)
}

// fakePlan is the dry run's answer: the fields of obj that differ from
// old's, the server's metadata left out.
func fakePlan(old, obj map[string]any, exists bool) map[string]any {
	changes := []map[string]any{}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if !reflect.DeepEqual(old[k], obj[k]) {
			changes = append(changes, map[string]any{"field": k, "from": old[k], "to": obj[k]})
		}
	}
	action := "update"
	switch {
	case !exists:
		action = "create"
	case len(changes) == 0:
		action = "unchanged"
	}
	return map[string]any{"dry_run": true, "action": action, "changes": changes}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func (f *fake) lookup(t, phone string) map[string]any {
	state := "subscribed"
	if f.optedOut[t+"/"+phone] {
		state = "opted_out"
	}
	return map[string]any{
		"tenant": t, "subscriber": "psn_4f1c2a", "version": 3, "phone_masked": "+1202•••0123",
		"campaigns": []any{map[string]any{"campaign": "deals", "state": state, "changed_at": "2026-01-02T03:04:05Z", "history": []any{}}},
	}
}

func (f *fake) handleSubscriber(w http.ResponseWriter, r *http.Request) {
	t, p := r.PathValue("t"), r.PathValue("phone")
	if !f.subs[t+"/"+p] {
		notFound(w)
		return
	}
	if r.Method == http.MethodDelete {
		delete(f.subs, t+"/"+p)
		writeJSON(w, 200, map[string]any{"erased": true})
		return
	}
	writeJSON(w, 200, f.lookup(t, p))
}

func (f *fake) handleSubscriberPart(w http.ResponseWriter, r *http.Request) {
	t, p := r.PathValue("t"), r.PathValue("phone")
	if !f.subs[t+"/"+p] {
		notFound(w)
		return
	}
	what := r.PathValue("what")
	if r.Method == http.MethodPost {
		what = "opt-out"
	}
	switch what {
	case "history":
		writeJSON(w, 200, map[string]any{"items": []any{
			map[string]any{"at": "2026-01-02T03:04:05Z", "tenant": t, "number": "+12025550100", "campaign": "deals", "from": "pending", "to": "subscribed", "reason": "confirmed", "cause": map[string]any{"provider": "twilio", "message_id": "SM00000000000000000000000000000002"}},
			map[string]any{"at": "2026-01-02T03:00:00Z", "tenant": t, "number": "+12025550100", "campaign": "deals", "from": "none", "to": "pending", "reason": "prompted", "cause": map[string]any{"provider": "twilio", "message_id": "SM00000000000000000000000000000001"}},
		}})
	case "export":
		writeJSON(w, 200, map[string]any{"tenant": t, "phone": p, "campaigns": []any{}})
	case "opt-out":
		var body struct{ Campaign, Reason string }
		json.NewDecoder(r.Body).Decode(&body)
		if body.Reason == "" && r.Header.Get("X-Optin-Reason") == "" {
			invalid(w, "reason", "reason is required")
			return
		}
		f.optedOut[t+"/"+p] = true
		writeJSON(w, 200, f.lookup(t, p))
	default:
		notFound(w)
	}
}

func (f *fake) handleTokens(w http.ResponseWriter, r *http.Request) {
	t := r.PathValue("t")
	if f.tenants[t] == nil {
		notFound(w)
		return
	}
	switch r.Method {
	case http.MethodPost:
		var body struct{ Role, Name string }
		json.NewDecoder(r.Body).Decode(&body)
		id := fmt.Sprintf("tok_%016x", len(f.tokens)+1)
		k := map[string]any{"id": id, "tenant": t, "role": body.Role, "name": body.Name, "created_at": "2026-01-02T03:04:05Z"}
		f.tokens[id] = k
		out := maps.Clone(k)
		out["token"] = "ogt_" + id[4:] + "_" + strings.Repeat("A", 43)
		writeJSON(w, 201, out)
	case http.MethodGet:
		writeJSON(w, 200, items(f.tokens))
	case http.MethodDelete:
		if _, ok := f.tokens[r.PathValue("id")]; !ok {
			notFound(w)
			return
		}
		delete(f.tokens, r.PathValue("id"))
		w.WriteHeader(204)
	}
}
