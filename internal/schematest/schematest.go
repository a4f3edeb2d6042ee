// Package schematest lists the fields that a consumer of the tenant,
// campaign and number documents declares, so that each consumer's test can
// hold it to the schema (optin.TenantDoc, CampaignDoc, NumberDoc): the
// config file, the admin API, optinctl and the OpenAPI document.
package schematest

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/optin-gateway/optin-gateway/optin"
)

// Fields returns the names under which encoding tag ("json" or "yaml")
// writes the fields of struct type t, sorted: embedded structs inlined as
// the encoding inlines them, fields tagged "-" left out.
func Fields(t reflect.Type, tag string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get(tag), ",")
		switch {
		case name == "-" || !f.IsExported():
		case f.Anonymous && name == "" && (tag == "json" || opts == "inline"):
			out = append(out, Fields(f.Type, tag)...)
		case name == "":
			out = append(out, strings.ToLower(f.Name)) // both encoders' default
		default:
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Schema returns the JSON fields of the document of kind ("tenant",
// "campaign" or "number"), sorted.
func Schema(kind string) []string {
	return Fields(docs[kind], "json")
}

// FileSchema returns the fields a configuration file gives of kind: the
// schema's, without what the store sets (a campaign keeps its version).
func FileSchema(kind string) []string {
	return slices.DeleteFunc(Schema(kind), func(f string) bool {
		return f == "updated_at" || f == "updated_by" || (f == "version" && kind != "campaign")
	})
}

// Kinds are the document kinds, in the order of the file.
var Kinds = []string{"tenant", "campaign", "number"}

var docs = map[string]reflect.Type{
	"tenant":   reflect.TypeFor[optin.TenantDoc](),
	"campaign": reflect.TypeFor[optin.CampaignDoc](),
	"number":   reflect.TypeFor[optin.NumberDoc](),
}

// Agree fails t when the fields consumer declares of kind are not the
// schema's want: it names each field the consumer lacks and each it has
// that the schema does not.
func Agree(t testing.TB, consumer, kind string, got, want []string) {
	t.Helper()
	for _, f := range want {
		if !slices.Contains(got, f) {
			t.Errorf("%s lacks the %s field %q of the schema (optin's %s document)", consumer, kind, f, kind)
		}
	}
	for _, f := range got {
		if !slices.Contains(want, f) {
			t.Errorf("%s declares a %s field %q that the schema (optin's %s document) lacks", consumer, kind, f, kind)
		}
	}
}

// AgreeFile holds a file format to the schema: f is the struct a file
// decodes into, whose Tenants field lists tenants that nest their
// Campaigns and Numbers (optin.TenantConfig, or a consumer's own types).
// The YAML keys of each must be FileSchema's.
func AgreeFile(t testing.TB, consumer string, f reflect.Type) {
	t.Helper()
	tf, ok := f.FieldByName("Tenants")
	if !ok {
		t.Fatalf("%s: %s has no Tenants field", consumer, f)
	}
	tenant := tf.Type.Elem()
	cf, okc := tenant.FieldByName("Campaigns")
	nf, okn := tenant.FieldByName("Numbers")
	if !okc || !okn {
		t.Fatalf("%s: %s nests no Campaigns or no Numbers", consumer, tenant)
	}
	nested := func(name string) bool { return name == "campaigns" || name == "numbers" }
	Agree(t, consumer, "tenant", slices.DeleteFunc(Fields(tenant, "yaml"), nested), FileSchema("tenant"))
	Agree(t, consumer, "campaign", Fields(cf.Type.Elem(), "yaml"), FileSchema("campaign"))
	Agree(t, consumer, "number", Fields(nf.Type.Elem(), "yaml"), FileSchema("number"))
}
