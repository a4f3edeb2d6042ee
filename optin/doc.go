// Package optin is the consent domain of the gateway: the double opt-in
// state machine, the tenants, campaigns and numbers it runs for, the
// audit events it emits and the documents the admin API stores. It is
// pure: no I/O, no clock, no randomness (the caller passes now and the
// digits of fresh codes), and it imports only the standard library and
// golang.org/x/text (TestDependencies holds it so).
//
// # States
//
// Consent is kept per (tenant, campaign, subscriber) in one of four
// states: none, pending (a confirmation code is live), subscribed and
// unsubscribed. Decide reads a message after normalising its text
// (Unicode NFKC, case folding, surrounding white space and punctuation
// trimmed) and moves each campaign of the business number as follows:
//
//	input                          none / unsubscribed        pending                          subscribed
//	-----------------------------  -------------------------  -------------------------------  ----------------------
//	opt-out word or phrase         → unsubscribed, one        → unsubscribed, code voided,     → unsubscribed, one
//	(STOP, UNSUBSCRIBE, CANCEL,      confirmation (already      one confirmation                 confirmation
//	END, QUIT, "take me off", …)     unsubscribed: recorded,
//	                                 not answered)
//	HELP / INFO                    help text                  help text                        help text
//	campaign keyword or START      → pending, new code sent   code sent again (prompt limits)  "already subscribed"
//	the pending code               —                          → subscribed, confirmation       —
//	a wrong code                   —                          attempts left − 1; at zero the   —
//	                                                          code is voided (→ none)
//	an expired or voided code      "expired, text JOIN again" "expired, text JOIN again"       —
//	anything else                  no reply; recorded         no reply; recorded               no reply; recorded
//
// A bare STOP revokes every campaign of the business number; "STOP DEALS"
// only the campaign whose keyword is DEALS. When in doubt a message counts
// as a revocation: a missed STOP is a legal violation, an extra one is
// not. A provider that blocks the subscriber itself (ProviderOptOut)
// revokes too. An erasure (Art. 17) removes the subscriber's data; a
// later message starts again from none.
//
// Each change of state is an Event with its Cause (the message, the
// provider's id) and, for a confirmation, the Evidence of the consent;
// the store writes them to the tamper-evident audit log in the same
// step as the state.
package optin
