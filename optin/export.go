package optin

import "time"

// Export is everything one tenant holds about one person (GDPR Art. 15
// and 20): the state per campaign, the timeline of transitions, the texts
// received from and sent to them, and when each kind of datum is deleted.
// After an erasure it holds only what happened since: the records from
// before it are kept as consent proof (their structure only; their texts
// were crypto-shredded) and only counted in ErasedRecords.
type Export struct {
	Tenant      string           `json:"tenant"`
	Subscriber  string           `json:"subscriber"` // pseudonym
	Phone       Phone            `json:"phone"`
	GeneratedAt time.Time        `json:"generated_at"`
	Campaigns   []ExportCampaign `json:"campaigns"`
	Timeline    []ExportEvent    `json:"timeline"` // oldest first
	Received    []ExportText     `json:"received"` // texts from the person that changed something, once per message
	Sent        []ExportText     `json:"sent"`     // replies sent to the person, once per message
	// ErasedAt is the last erasure of the person, nil if never erased.
	ErasedAt *time.Time `json:"erased_at"`
	// ErasedRecords counts the records from before ErasedAt.
	ErasedRecords int         `json:"erased_records"`
	Retention     []Retention `json:"retention"`
}

// ExportCampaign is the person's standing with one campaign.
type ExportCampaign struct {
	Campaign      string     `json:"campaign"`
	State         State      `json:"state"`
	Since         time.Time  `json:"since"`
	CodeExpiresAt *time.Time `json:"code_expires_at,omitempty"` // a live code is deleted then
}

// ExportEvent is one transition on the person's timeline.
type ExportEvent struct {
	At       time.Time `json:"at"`
	Campaign string    `json:"campaign"`
	From     State     `json:"from"`
	To       State     `json:"to"`
	Reason   Outcome   `json:"reason"`
	Cause    Cause     `json:"cause"`
	Replies  []string  `json:"replies,omitempty"`
	Rule     string    `json:"rule,omitempty"`
	// Seq is the record's place in the audit chain; 0 while not archived.
	Seq    uint64 `json:"seq"`
	Erased bool   `json:"erased,omitempty"` // texts crypto-shredded
}

// ExportText is one text received or sent.
type ExportText struct {
	At        time.Time `json:"at"`
	MessageID string    `json:"message_id,omitempty"` // the person's message, or the one answered
	Text      string    `json:"text"`
}

// Retention says how long one kind of datum about the person is kept.
type Retention struct {
	Datum string `json:"datum"`
	Where string `json:"where"`
	Rule  string `json:"rule"`
	// Until is when the last copy held now is deleted, when known.
	Until *time.Time `json:"until,omitempty"`
}
