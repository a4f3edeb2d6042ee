package main

import (
	"reflect"
	"testing"

	"github.com/optin-gateway/optin-gateway/internal/schematest"
)

// TestSchemaAgreement holds optinctl to the schema (optin's *Doc types):
// the campaigns file it reads, and the documents it reads from and sends
// to the admin API.
func TestSchemaAgreement(t *testing.T) {
	schematest.AgreeFile(t, "optinctl's campaigns file", reflect.TypeFor[campaignsFile]())
	wire := reflect.TypeFor[current]()
	for kind, field := range map[string]string{"tenant": "Tenant", "campaign": "Campaigns", "number": "Numbers"} {
		f, _ := wire.FieldByName(field)
		typ := f.Type.Elem() // *TenantDoc or []CampaignDoc, []NumberDoc
		schematest.Agree(t, "optinctl's admin API documents", kind, schematest.Fields(typ, "json"), schematest.Schema(kind))
	}
}
