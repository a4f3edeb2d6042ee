package optin

import (
	"encoding/json"
	"time"
)

// Role is what an API token may do.
type Role string

// The roles of the admin API. The operator (OPTIN_ADMIN_TOKEN) has every
// role on every tenant.
const (
	RoleAdmin   Role = "admin"   // configure, tokens, erase
	RoleSupport Role = "support" // look up, history, export, opt out and record revocations by hand
	RoleAuditor Role = "auditor" // read only: evidence, verify, access log
	// RoleSender is a business's sending system: it may only check consent
	// and read campaigns' audiences.
	RoleSender Role = "sender"
	// RoleMetrics may only scrape /metrics (which spans every tenant, so
	// only the operator creates such tokens).
	RoleMetrics Role = "metrics"
)

// Roles are the roles a token may have.
var Roles = []Role{RoleAdmin, RoleSupport, RoleAuditor, RoleSender, RoleMetrics}

// ValidRole reports whether r is a role a token may have.
func ValidRole(r Role) bool {
	return r == RoleAdmin || r == RoleSupport || r == RoleAuditor || r == RoleSender || r == RoleMetrics
}

// TokenDoc is an API token of a tenant as stored: only the SHA-256 of its
// secret is kept (Hash, hex), never the token.
type TokenDoc struct {
	ID        string    `json:"id"`
	Tenant    string    `json:"tenant"`
	Role      Role      `json:"role"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
	Hash      string    `json:"hash,omitempty"`
}

// ConfigSet is the whole configuration held by the store: every tenant,
// and each tenant's campaigns and numbers by id, at one version.
type ConfigSet struct {
	Version   int64
	Tenants   map[string]TenantDoc
	Campaigns map[string]map[string]CampaignDoc // tenant → id →
	Numbers   map[string]map[string]NumberDoc   // tenant → E.164 →
}

// Config object kinds, as ConfigChange.Object names them.
const (
	ObjectTenant   = "tenant"
	ObjectCampaign = "campaign"
	ObjectNumber   = "number"
	ObjectToken    = "token"
)

// ConfigChange is an audit record of one change to the configuration or
// to the tokens: who changed what, when, and the object as it became
// (Doc; null once deleted; a token never holds its hash).
type ConfigChange struct {
	Kind    string          `json:"kind"` // always "config"
	ID      string          `json:"id"`   // unique id of the record
	Tenant  string          `json:"tenant"`
	Object  string          `json:"object"`    // ObjectTenant, …
	Key     string          `json:"object_id"` // the object's id (number: E.164)
	Action  string          `json:"action"`    // "create", "update", "delete"
	Version int             `json:"version"`   // the object's version after the change
	Actor   string          `json:"actor"`
	At      time.Time       `json:"at"`
	Doc     json.RawMessage `json:"doc"`
}

// Access actions, as AccessEntry.Action names them.
const (
	AccessLookup     = "lookup"
	AccessHistory    = "history"
	AccessExport     = "export"
	AccessOptOut     = "opt_out"
	AccessRevocation = "revocation"
	AccessReveal     = "reveal"
	AccessErase      = "erase"
	AccessEvidence   = "evidence"
	// AccessAudience is an export of a campaign's audience (Campaign);
	// it names no subscriber.
	AccessAudience = "audience_export"
	// AccessConsentCheck counts a token's consent checks (Count, from At
	// to Until); it names no subscriber.
	AccessConsentCheck = "consent_check"
)

// AccessEntry is an audit record of one look at, or change to, a
// subscriber's data by a person: who, in which role, did what to whom,
// when and why.
type AccessEntry struct {
	Kind       string    `json:"kind"` // always "access"
	ID         string    `json:"id"`
	Tenant     string    `json:"tenant"`
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"` // "operator" or a token id
	Role       Role      `json:"role"`
	Action     string    `json:"action"`
	Subscriber string    `json:"subscriber"` // pseudonym
	Reason     string    `json:"reason"`
	// Campaign is the campaign of an audience export.
	Campaign string `json:"campaign,omitempty"`
	// Count and Until: an entry that counts many requests (the consent
	// checks of a token) counts Count of them from At to Until.
	Count int       `json:"count,omitempty"`
	Until time.Time `json:"until,omitzero"`
}

// ConfigRef names one stored configuration document: a tenant, a campaign
// or a number of a tenant, or an API token.
type ConfigRef struct {
	Object string // ObjectTenant, …
	Tenant string
	ID     string // campaign id, E.164, token id; the tenant id for a tenant
}

// ChainStatus is the outcome of verifying the audit log's hash chain.
type ChainStatus struct {
	OK       bool   `json:"ok"`
	Records  uint64 `json:"records"`
	HeadSeq  uint64 `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	Problem  string `json:"problem,omitempty"` // what breaks the chain, where
}
