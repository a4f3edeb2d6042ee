package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/optin"
)

// WithRetention returns the audit log with the retention of its sealed
// segments (OPTIN_AUDIT_RETENTION) known, for the deletion dates of Export.
func (l *AuditLog) WithRetention(d time.Duration) *AuditLog {
	c := *l
	c.retention = d
	return &c
}

// Erase is Store.Erase: the audit log serves both halves of a privacy
// request.
func (l *AuditLog) Erase(ctx context.Context, tenant string, phone optin.Phone, campaigns []string, actor string, at time.Time) (bool, error) {
	return l.st.Erase(ctx, tenant, phone, campaigns, actor, at)
}

// Pseudonym returns the pseudonym of phone under tenant, without a round
// trip: what the access log names a privacy request by.
func (l *AuditLog) Pseudonym(tenant string, phone optin.Phone) string {
	return l.st.pseudonyms.Pseudonym(tenant, phone)
}

// Export returns everything tenant holds about phone (GDPR Art. 15, 20):
// state and live codes of campaigns, the verified audit records and the
// events still in the outbox and the history, with their texts opened, and
// when each kind of datum will be deleted. Only what happened since the
// person's last erasure is shown. Like Evidence it needs a verified chain.
func (l *AuditLog) Export(ctx context.Context, tenant string, phone optin.Phone, campaigns []string, now time.Time) (optin.Export, error) {
	ev, err := l.Evidence(ctx, tenant, phone)
	if err != nil {
		return optin.Export{}, err
	}
	id := ev.Subscriber
	sub, history, err := l.st.lookupID(ctx, tenant, id)
	if err != nil {
		return optin.Export{}, err
	}
	out := optin.Export{
		Tenant: tenant, Subscriber: id, Phone: phone, GeneratedAt: now,
		Campaigns: []optin.ExportCampaign{}, Timeline: []optin.ExportEvent{},
		Received: []optin.ExportText{}, Sent: []optin.ExportText{},
	}

	// The timeline: archived records, then the outbox, then whatever the
	// history adds (each event once, by id).
	type item struct {
		ev  optin.Event
		seq uint64
	}
	var items []item
	seen := map[string]bool{}
	add := func(e optin.Event, seq uint64) {
		if e.ID != "" && seen[e.ID] {
			return
		}
		seen[e.ID] = true
		items = append(items, item{e, seq})
	}
	var lastArchived time.Time
	for _, r := range ev.Records {
		if r.Delivery != nil {
			continue
		}
		add(r.Event, r.Seq)
		lastArchived = r.ArchivedAt
	}
	for _, e := range ev.Pending {
		add(e, 0)
	}
	for _, e := range slices.Backward(history) {
		add(e, 0)
	}
	slices.SortStableFunc(items, func(a, b item) int { return a.ev.At.Compare(b.ev.At) })
	texts := map[string]bool{}
	for i, it := range items {
		if it.ev.Reason == optin.OutcomeErased {
			at := it.ev.At
			out.ErasedAt, out.ErasedRecords = &at, i
			out.Timeline = out.Timeline[:0]
			out.Received, out.Sent = out.Received[:0], out.Sent[:0]
			clear(texts)
			continue
		}
		e := it.ev
		x := optin.ExportEvent{
			At: e.At, Campaign: e.Campaign, From: e.From, To: e.To, Reason: e.Reason,
			Cause: e.Cause, Replies: e.Replies, Seq: it.seq, Erased: e.Erased,
		}
		if e.Match != nil {
			x.Rule = e.Match.Rule
		}
		out.Timeline = append(out.Timeline, x)
		// One message may move several campaigns: its texts count once.
		msg := e.Cause.Provider + ":" + e.Cause.MessageID
		if e.Cause.Words != "" && !texts["in\x00"+msg] {
			texts["in\x00"+msg] = true
			out.Received = append(out.Received, optin.ExportText{At: e.At, MessageID: e.Cause.MessageID, Text: e.Cause.Words})
		}
		for _, r := range e.Replies {
			if k := "out\x00" + msg + "\x00" + r; !texts[k] {
				texts[k] = true
				out.Sent = append(out.Sent, optin.ExportText{At: e.At, MessageID: e.Cause.MessageID, Text: r})
			}
		}
	}

	// State and live codes.
	shard := shardOf(id, l.st.shards)
	pipe := l.st.rdb.Pipeline()
	ttls := make([]*redis.DurationCmd, len(campaigns))
	for i, c := range campaigns {
		ttls[i] = pipe.PTTL(ctx, codeKey(shard, tenant, id, c))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return out, translate("export "+id, err)
	}
	var codeUntil *time.Time
	for _, c := range slices.Sorted(maps.Keys(sub.Enrollments)) {
		e := sub.Enrollments[c]
		x := optin.ExportCampaign{Campaign: c, State: e.State, Since: e.Since}
		if i := slices.Index(campaigns, c); i >= 0 && ttls[i].Val() > 0 {
			t := now.Add(ttls[i].Val()).Truncate(time.Millisecond)
			x.CodeExpiresAt = &t
			if codeUntil == nil || t.After(*codeUntil) {
				codeUntil = &t
			}
		}
		out.Campaigns = append(out.Campaigns, x)
	}

	// When each kind of datum goes.
	var lastMessage time.Time
	for _, x := range out.Timeline {
		if x.Cause.MessageID != "" && x.At.After(lastMessage) {
			lastMessage = x.At
		}
	}
	out.Retention = []optin.Retention{
		{Datum: "state", Where: "redis", Rule: "until erased"},
		{Datum: "phone_number", Where: "redis (sealed)", Rule: "until erased"},
		{Datum: "pending_code", Where: "redis (sealed)", Rule: "until confirmed, voided or expired", Until: codeUntil},
		{Datum: "history", Where: "redis (texts sealed)", Rule: fmt.Sprintf("the latest %d events, until erased", l.st.historyLen)},
		{Datum: "idempotency_record", Where: "redis (reply sealed)", Rule: fmt.Sprintf("%s after each message", l.st.idemTTL), Until: after(lastMessage, l.st.idemTTL)},
		{Datum: "queued_reply", Where: "redis (sealed)", Rule: fmt.Sprintf("until sent; its send record (no personal data) %s", DefaultSendRecordTTL)},
		{Datum: "audit_record", Where: "audit log (texts sealed)", Rule: auditRule(l.retention), Until: after(lastArchived, l.retention)},
	}
	return out, nil
}

func auditRule(d time.Duration) string {
	if d <= 0 {
		return "the log's retention after the segment's last record; texts unreadable once erased"
	}
	return fmt.Sprintf("%s after the segment's last record; texts unreadable once erased", strings.TrimSuffix(d.String(), "0m0s"))
}

// after returns t+d, nil when either is zero.
func after(t time.Time, d time.Duration) *time.Time {
	if t.IsZero() || d <= 0 {
		return nil
	}
	u := t.Add(d)
	return &u
}
