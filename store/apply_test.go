package store

import (
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/optin"
)

// clearSealer "seals" in clear, showing the purpose it binds to (its
// double quotes made single, to keep JSON around it readable), so that the
// arguments built are deterministic and can be read.
type clearSealer struct{}

func (clearSealer) seal(plain []byte, ad string) string {
	_, purpose, _ := strings.Cut(strings.TrimPrefix(ad, "demo\x00"), "\x00")
	return "sealed(" + purpose + ":" + strings.ReplaceAll(string(plain), `"`, "'") + ")"
}

// TestBuildApply: the KEYS and ARGV of apply.lua for each kind of
// decision, laid out as the script's header says.
func TestBuildApply(t *testing.T) {
	const id = "0a1b2c3d"
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in := optin.Inbound{Provider: "twilio", MessageID: "SM1", Text: "JOIN"}
	code := &optin.PendingCode{Code: "483920", ExpiresAt: at.Add(10 * time.Minute), AttemptsLeft: 3}
	ev := func(campaign string, from, to optin.State, reason optin.Outcome, replies ...string) optin.Event {
		return optin.Event{Tenant: "demo", Number: "+12025550100", Campaign: campaign, CampaignVersion: 1, Subscriber: id,
			From: from, To: to, At: at, Reason: reason, Cause: optin.Cause{Provider: "twilio", MessageID: "SM1", Words: "join"}, Replies: replies}
	}
	en := func(s optin.State, c *optin.PendingCode) optin.Enrollment {
		return optin.Enrollment{State: s, Since: at, Code: c}
	}
	sub := func(v int64, es map[string]optin.Enrollment) optin.Subscriber {
		return optin.Subscriber{Tenant: "demo", ID: id, Version: v, Enrollments: es, Phone: "+12125550123"}
	}
	stored := &dataKey{wrapped: "k0.STORED"}
	fresh := &dataKey{wrapped: "k0.FRESH", fresh: true}
	base := []string{
		"og:{s00}:sub:demo:" + id, "og:{s00}:idem:twilio:SM1", "og:{s00}:outbox",
		"og:{s00}:hist:demo:" + id, "og:{s00}:outq", "og:{s00}:dk:demo:" + id,
	}
	codeKey := "og:{s00}:code:demo:" + id + ":"
	for _, tc := range []struct {
		name   string
		prev   optin.Subscriber
		dec    optin.Decision
		reply  string
		queued []optin.Reply
		ld     *loaded
		keys   []string // after base
		args   []string
		// what the cache keeps once the script answered "ok"
		written map[string]string
		newKey  bool
	}{
		{
			name: "a message that meant nothing leaves no data key",
			prev: sub(0, nil), reply: "<Response/>",
			ld:   &loaded{rs: &readSet{}, campaigns: []string{"deals"}, dk: fresh},
			keys: []string{codeKey + "deals"},
			args: []string{
				// version, doc, reply, TTL, history; the read set: doc, data key
				"0", "", "<Response/>", "172800000", "100", "", "",
				// data key mode, data key, phone, member; r, n, m, c, k
				"", "k0.FRESH", "", "",
				"1", "0", "0", "0", "0",
				// the read set's codes
				"",
			},
		},
		{
			name: "a prompt, queued, under a fresh data key",
			prev: sub(0, nil), reply: "",
			dec: optin.Decision{
				Next:    sub(0, map[string]optin.Enrollment{"deals": en(optin.StatePending, code)}),
				Changed: true, Replies: []string{"Reply 483920"},
				Events: []optin.Event{ev("deals", optin.StateNone, optin.StatePending, optin.OutcomePrompted, "Reply ••••••")},
			},
			queued:  []optin.Reply{{ID: "twilio:SM1:r0", Tenant: "demo", Subscriber: id, From: "+12025550100", To: "+12125550123", Body: "Reply 483920", Provider: "twilio", CausedBy: "SM1", QueuedAt: at}},
			ld:      &loaded{rs: &readSet{}, campaigns: []string{"deals"}, dk: fresh},
			keys:    []string{codeKey + "deals", codeKey + "deals"},
			newKey:  true,
			written: map[string]string{"deals": "sealed(code/deals:{'code':'483920','expires_at':'2026-01-02T03:14:05Z','attempts_left':3})"},
			args: []string{
				// version, doc, reply, TTL, history; the read set: doc, data key
				"0", `{"deals":{"state":"pending","since":"2026-01-02T03:04:05Z","event":"twilio:SM1:deals:0"}}`, "sealed(idem/twilio/SM1:)", "172800000", "100", "", "",
				// data key mode, data key, phone, member; r, n, m, c, k
				"new", "k0.FRESH", "sealed(phone:+12125550123)", "",
				"1", "1", "1", "1", "0",
				// the read set's codes, events, replies, codes written, audiences
				"",
				`{"id":"twilio:SM1:deals:0","tenant":"demo","number":"+12025550100","campaign":"deals","campaign_version":1,"subscriber":"0a1b2c3d","from":"none","to":"pending","at":"2026-01-02T03:04:05Z","reason":"prompted","cause":{"provider":"twilio","message_id":"SM1"},"sealed":"sealed(event/twilio:SM1:deals:0:{'words':'join','replies':['Reply ••••••']})"}`,
				`{"id":"twilio:SM1:r0","tenant":"demo","subscriber":"0a1b2c3d","from":"+12025550100","to":"sealed(reply/twilio:SM1:r0/to:+12125550123)","body":"sealed(reply/twilio:SM1:r0/body:Reply 483920)","provider":"twilio","caused_by":"SM1","queued_at":"2026-01-02T03:04:05Z"}`,
				"sealed(code/deals:{'code':'483920','expires_at':'2026-01-02T03:14:05Z','attempts_left':3})",
				"1767323645000",
			},
		},
		{
			name: "a confirmation: the code deleted, the audience joined",
			prev: sub(3, map[string]optin.Enrollment{"deals": en(optin.StatePending, code)}), reply: "<Response><Message>You're subscribed</Message></Response>",
			dec: optin.Decision{
				Next:    sub(3, map[string]optin.Enrollment{"deals": en(optin.StateSubscribed, nil)}),
				Changed: true, Replies: []string{"You're subscribed"},
				Events: []optin.Event{ev("deals", optin.StatePending, optin.StateSubscribed, optin.OutcomeConfirmed, "You're subscribed")},
			},
			ld:      &loaded{rs: &readSet{version: 3, doc: `{"deals":{}}`, wrapped: "k0.STORED", codes: []codeKeyV{{"deals", "enc:OLD"}}}, campaigns: []string{"deals"}, dk: stored},
			keys:    []string{codeKey + "deals", codeKey + "deals", "og:{s00}:aud:demo:deals", "og:{s00}:supp:demo:" + id},
			written: map[string]string{"deals": ""},
			args: []string{
				// version, doc, reply, TTL, history; the read set: doc, data key
				"3", `{"deals":{"state":"subscribed","since":"2026-01-02T03:04:05Z","event":"twilio:SM1:deals:0"}}`, "sealed(idem/twilio/SM1:<Response><Message>You're subscribed</Message></Response>)", "172800000", "100", `{"deals":{}}`, "k0.STORED",
				// data key mode, data key, phone, member; r, n, m, c, k
				"", "k0.STORED", "sealed(phone:+12125550123)", "0a1b2c3d",
				"1", "1", "0", "1", "1",
				// the read set's codes, events, replies, codes written, audiences
				"enc:OLD",
				`{"id":"twilio:SM1:deals:0","tenant":"demo","number":"+12025550100","campaign":"deals","campaign_version":1,"subscriber":"0a1b2c3d","from":"pending","to":"subscribed","at":"2026-01-02T03:04:05Z","reason":"confirmed","cause":{"provider":"twilio","message_id":"SM1"},"sealed":"sealed(event/twilio:SM1:deals:0:{'words':'join','replies':['You're subscribed']})"}`,
				"",
				"0",
				"+",
			},
		},
		{
			name: "an opt-out of two campaigns leaves both audiences",
			prev: sub(7, map[string]optin.Enrollment{"deals": en(optin.StateSubscribed, nil), "news": en(optin.StateSubscribed, nil)}), reply: "",
			dec: optin.Decision{
				Next:    sub(7, map[string]optin.Enrollment{"deals": en(optin.StateUnsubscribed, nil), "news": en(optin.StateUnsubscribed, nil)}),
				Changed: true, Replies: []string{"You're unsubscribed"},
				Events: []optin.Event{
					ev("deals", optin.StateSubscribed, optin.StateUnsubscribed, optin.OutcomeOptOut, "You're unsubscribed"),
					ev("news", optin.StateSubscribed, optin.StateUnsubscribed, optin.OutcomeOptOut),
				},
			},
			ld:   &loaded{rs: &readSet{version: 7, doc: `{}`, wrapped: "k0.STORED"}, campaigns: []string{"deals", "news"}, dk: stored},
			keys: []string{codeKey + "deals", codeKey + "news", "og:{s00}:aud:demo:deals", "og:{s00}:aud:demo:news", "og:{s00}:supp:demo:" + id},
			args: []string{
				// version, doc, reply, TTL, history; the read set: doc, data key
				"7", `{"deals":{"state":"unsubscribed","since":"2026-01-02T03:04:05Z","event":"twilio:SM1:deals:0"},"news":{"state":"unsubscribed","since":"2026-01-02T03:04:05Z","event":"twilio:SM1:news:1"}}`, "sealed(idem/twilio/SM1:)", "172800000", "100", "{}", "k0.STORED",
				// data key mode, data key, phone, member; r, n, m, c, k
				"", "k0.STORED", "sealed(phone:+12125550123)", "0a1b2c3d",
				"2", "2", "0", "0", "2",
				// the read set's codes, events, replies, codes written, audiences
				"",
				"",
				`{"id":"twilio:SM1:deals:0","tenant":"demo","number":"+12025550100","campaign":"deals","campaign_version":1,"subscriber":"0a1b2c3d","from":"subscribed","to":"unsubscribed","at":"2026-01-02T03:04:05Z","reason":"opt_out","cause":{"provider":"twilio","message_id":"SM1"},"sealed":"sealed(event/twilio:SM1:deals:0:{'words':'join','replies':['You're unsubscribed']})"}`,
				`{"id":"twilio:SM1:news:1","tenant":"demo","number":"+12025550100","campaign":"news","campaign_version":1,"subscriber":"0a1b2c3d","from":"subscribed","to":"unsubscribed","at":"2026-01-02T03:04:05Z","reason":"opt_out","cause":{"provider":"twilio","message_id":"SM1"},"sealed":"sealed(event/twilio:SM1:news:1:{'words':'join'})"}`,
				"-",
				"-",
			},
		},
		{
			name: "a repeated STOP of an erased subscriber is recorded under a fresh key",
			prev: sub(9, map[string]optin.Enrollment{"deals": en(optin.StateUnsubscribed, nil)}), reply: "",
			dec: optin.Decision{
				Next:   sub(9, map[string]optin.Enrollment{"deals": en(optin.StateUnsubscribed, nil)}),
				Events: []optin.Event{ev("deals", optin.StateUnsubscribed, optin.StateUnsubscribed, optin.OutcomeOptOut)},
			},
			ld:     &loaded{rs: &readSet{version: 9, doc: `{"deals":{}}`}, campaigns: []string{"deals"}, dk: fresh},
			newKey: true,
			keys:   []string{codeKey + "deals"},
			args: []string{
				// version, doc, reply, TTL, history; the read set: doc, data key
				"9", "", "", "172800000", "100", `{"deals":{}}`, "",
				// data key mode, data key, phone, member; r, n, m, c, k
				"new", "k0.FRESH", "", "",
				"1", "1", "0", "0", "0",
				// the read set's codes, events, replies, codes written, audiences
				"",
				`{"id":"twilio:SM1:deals:0","tenant":"demo","number":"+12025550100","campaign":"deals","campaign_version":1,"subscriber":"0a1b2c3d","from":"unsubscribed","to":"unsubscribed","at":"2026-01-02T03:04:05Z","reason":"opt_out","cause":{"provider":"twilio","message_id":"SM1"},"sealed":"sealed(event/twilio:SM1:deals:0:{'words':'join'})"}`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := buildApply(applyInput{
				prev: tc.prev, dec: tc.dec, in: in, reply: []byte(tc.reply), queued: tc.queued, ld: tc.ld,
				seal: clearSealer{}, shards: 1, idemTTL: DefaultIdempotencyTTL, historyLen: DefaultHistoryLen,
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := append(append([]string(nil), base...), tc.keys...); !reflect.DeepEqual(got.keys, want) {
				t.Errorf("buildApply().keys =\n%q\nwant\n%q", got.keys, want)
			}
			if args := argStrings(got.args); !reflect.DeepEqual(args, tc.args) {
				t.Errorf("buildApply().args =\n%#v\nwant\n%#v", args, tc.args)
			}
			if !maps.Equal(got.written, tc.written) {
				t.Errorf("buildApply().written = %q; want %q", got.written, tc.written)
			}
			if got.newKey != tc.newKey {
				t.Errorf("buildApply().newKey = %v; want %v", got.newKey, tc.newKey)
			}
		})
	}
}

// argStrings is args as Redis receives them.
func argStrings(args []any) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if b, ok := a.([]byte); ok {
			a = string(b)
		}
		out[i] = fmt.Sprint(a)
	}
	return out
}
