package optin

import "time"

// AuditRecord is one event as the durable audit log holds it: a link of a
// SHA-256 hash chain. Hash covers the record's whole body, which names Prev,
// the hash of the record before it, so a record cannot be edited, removed
// or moved without breaking every hash after it.
type AuditRecord struct {
	Seq        uint64    `json:"seq"`         // position in the chain, from 1
	Hash       string    `json:"hash"`        // hex SHA-256 of the record's body
	Prev       string    `json:"prev"`        // Hash of record Seq-1
	ArchivedAt time.Time `json:"archived_at"` // when the archiver wrote it
	// Event is the transition the record holds; or, when Delivery is set,
	// only its tenant, subscriber and time.
	Event Event `json:"event"`
	// Delivery is set when the record holds what became of a reply sent
	// through a provider's API (sent, a status callback, given up on).
	Delivery *Delivery `json:"delivery,omitempty"`
	// Config is set when the record holds a change to the configuration
	// or the tokens; Event then holds only its tenant and time.
	Config *ConfigChange `json:"config,omitempty"`
	// Access is set when the record holds a person's access to a
	// subscriber's data; Event then holds only its tenant and time.
	Access *AccessEntry `json:"access,omitempty"`
}

// Evidence is the consent record of one subscriber of one tenant: every
// archived transition, each with its place in the verified chain, the
// transitions not archived yet, and the head of the chain they were
// checked against.
type Evidence struct {
	Tenant     string        `json:"tenant"`
	Subscriber string        `json:"subscriber"` // pseudonym
	Records    []AuditRecord `json:"records"`    // archived, oldest first
	// Pending are events still in the outbox, not yet archived; oldest first.
	Pending []Event `json:"pending"`
	// HeadSeq and HeadHash are the last record of the whole chain when it
	// was verified: every record of Records is a link of the chain that
	// ends there.
	HeadSeq  uint64 `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	// ChainRecords is how many records the verified chain holds.
	ChainRecords uint64 `json:"chain_records"`
}
