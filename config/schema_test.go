package config

import (
	"reflect"
	"testing"

	"github.com/optin-gateway/optin-gateway/internal/schematest"
)

// TestSchemaAgreement holds the configuration file's tenants, campaigns
// and numbers to the schema (optin's *Doc types): a key the file takes
// that the schema lacks, or a schema field it does not take, fails.
func TestSchemaAgreement(t *testing.T) {
	schematest.AgreeFile(t, "the config file", reflect.TypeFor[file]())
}
