package gateway_test

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/internal/schematest"
)

// TestSchemaAgreement holds two consumers of the tenant, campaign and
// number documents to the schema (optin's *Doc types): the JSON the admin
// API answers, and the OpenAPI document's Tenant, Campaign and Number.
func TestSchemaAgreement(t *testing.T) {
	h := newAdminHarness(t)
	var numbers struct{ Items []map[string]any }
	if r := h.get("/v1/tenants/demo/numbers", adminToken); r.status != 200 || json.Unmarshal([]byte(r.body), &numbers) != nil || len(numbers.Items) == 0 {
		t.Fatalf("GET numbers: %d %s", r.status, r.body)
	}
	number, _ := numbers.Items[0]["number"].(string)
	paths := map[string]string{
		"tenant":   "/v1/tenants/demo",
		"campaign": "/v1/tenants/demo/campaigns/deals",
		"number":   "/v1/tenants/demo/numbers/" + strings.ReplaceAll(number, "+", "%2B"),
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(gateway.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	for _, kind := range schematest.Kinds {
		want := schematest.Schema(kind)
		r := h.get(paths[kind], adminToken)
		var got map[string]any
		if r.status != 200 || json.Unmarshal([]byte(r.body), &got) != nil {
			t.Fatalf("GET %s: %d %s", paths[kind], r.status, r.body)
		}
		schematest.Agree(t, "the admin API's answer", kind, slices.Sorted(maps.Keys(got)), want)
		name := strings.ToUpper(kind[:1]) + kind[1:]
		schematest.Agree(t, "openapi.json's "+name, kind, slices.Sorted(maps.Keys(doc.Components.Schemas[name].Properties)), want)
	}
}
