package gateway_test

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/optin-gateway/optin-gateway/gateway"
)

// TestOpenAPI validates the served OpenAPI document and checks that it
// lists exactly the admin routes the server registers: a route missing
// from the document, or a documented route that is not registered, fails.
func TestOpenAPI(t *testing.T) {
	h := newAdminHarness(t)
	r := h.get("/v1/openapi.json", "")
	if r.status != 200 || r.body != string(gateway.OpenAPI) {
		t.Fatalf("GET /v1/openapi.json: %d; want 200 and the document", r.status)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(gateway.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json does not validate: %v", err)
	}
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	slices.Sort(documented)
	param := regexp.MustCompile(`:([a-z]+)`)
	var registered []string
	for _, rt := range h.srv.Routes() {
		method, path, _ := strings.Cut(rt, " ")
		if path != "/v1/openapi.json" && path != "/v1/tenants" && !strings.HasPrefix(path, "/v1/tenants/") {
			continue // webhooks, health, metrics: not the admin API
		}
		registered = append(registered, method+" "+param.ReplaceAllString(path, "{$1}"))
	}
	slices.Sort(registered)
	for _, r := range registered {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is registered but not in openapi.json", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(registered, d) {
			t.Errorf("openapi.json documents %s, which is not registered", d)
		}
	}
}
