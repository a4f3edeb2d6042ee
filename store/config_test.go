package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/optin"
)

func testConfigSet() optin.ConfigSet {
	return optin.ConfigSet{
		Tenants: map[string]optin.TenantDoc{"demo": {ID: "demo", Name: "ACME", RevocationScope: "number"}},
		Campaigns: map[string]map[string]optin.CampaignDoc{"demo": {"deals": optin.CampaignDoc{ID: "deals", Name: "ACME Deals", Keywords: []string{"JOIN"},
			Prompt:       "Reply {code} to confirm ACME Deals. Up to 4 msg/mo. Msg&data rates may apply. Reply HELP for help, STOP to cancel.",
			Confirmation: "You're in.", Help: "ACME help."}.WithDefaults()}},
		Numbers: map[string]map[string]optin.NumberDoc{"demo": {"+12025550100": optin.NumberDoc{Number: "+12025550100", Campaigns: []string{"deals"}, StopReply: "Bye."}.WithDefaults()}},
	}
}

// TestConfigRecordsInTheAuditLog: configuration changes and access entries
// go through the config outbox into the hash chain beside the events;
// verify accepts them, rebuild ignores them; bootstrap writes only what is
// absent; a stale compare-and-set is a conflict and changes nothing.
func TestConfigRecordsInTheAuditLog(t *testing.T) {
	st, _ := newTestStore(t, 4)
	ctx := context.Background()
	opts := testArchiverOptions(t)
	addEvents(t, st, 0, 3)
	at := time.Date(2026, 11, 16, 15, 0, 0, 0, time.UTC)
	if n, err := st.BootstrapConfig(ctx, testConfigSet(), at); err != nil || n != 3 {
		t.Fatalf("BootstrapConfig = %d, %v; want 3 documents", n, err)
	}
	if n, err := st.BootstrapConfig(ctx, testConfigSet(), at); err != nil || n != 0 {
		t.Fatalf("BootstrapConfig again = %d, %v; want 0 (held already)", n, err)
	}
	ref := optin.ConfigRef{Object: optin.ObjectTenant, Tenant: "demo", ID: "demo"}
	if err := st.ConfigPut(ctx, ref, []byte(`{"stale":true}`), []byte(`{}`), nil); !errors.Is(err, optin.ErrConflict) {
		t.Fatalf("stale ConfigPut = %v; want ErrConflict", err)
	}
	set, err := st.LoadConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if set.Tenants["demo"].Name != "ACME" || set.Campaigns["demo"]["deals"].Version != 1 || set.Numbers["demo"]["+12025550100"].ReplyMode != "twiml" || set.Version != 3 {
		t.Fatalf("LoadConfig = %+v; want the bootstrapped documents at config version 3", set)
	}
	sub := testEvent(0).Subscriber
	entry := optin.AccessEntry{ID: "acc:1", Tenant: "demo", At: at, Actor: "tok_0123456789abcdef", Role: optin.RoleSupport, Action: optin.AccessLookup, Subscriber: sub, Reason: "ticket 1"}
	if err := st.RecordAccess(ctx, entry); err != nil {
		t.Fatal(err)
	}
	got, err := st.AccessLog(ctx, "demo", time.Time{}, 10)
	if err != nil || len(got) != 1 || got[0].Reason != "ticket 1" {
		t.Fatalf("AccessLog = %+v, %v; want the entry", got, err)
	}

	archive(t, st, opts, 3+3+1)
	var configs, accesses, events int
	if _, err := walkLog(opts.Dir, false, func(rec optin.AuditRecord, _ recordBody) error {
		switch {
		case rec.Config != nil:
			configs++
			if rec.Config.Actor != "bootstrap" || rec.Config.Tenant != "demo" || rec.Event.Subscriber != "" {
				t.Errorf("config record %+v", rec.Config)
			}
		case rec.Access != nil:
			accesses++
			if *rec.Access != (optin.AccessEntry{Kind: "access", ID: "acc:1", Tenant: "demo", At: at, Actor: entry.Actor, Role: entry.Role, Action: entry.Action, Subscriber: sub, Reason: "ticket 1"}) {
				t.Errorf("access record %+v", rec.Access)
			}
		default:
			events++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if configs != 3 || accesses != 1 || events != 3 {
		t.Fatalf("log holds %d config, %d access, %d event records; want 3, 1, 3", configs, accesses, events)
	}
	status, err := st.AuditLog(opts.Dir).Check(ctx)
	if err != nil || !status.OK || status.Records != 7 {
		t.Fatalf("Check = %+v, %v; want ok with 7 records", status, err)
	}
	if err := st.rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	stats, err := st.AuditLog(opts.Dir).Rebuild(ctx)
	if err != nil || stats.Subscribers != 3 {
		t.Fatalf("Rebuild = %+v, %v; want the 3 subscribers of the events only", stats, err)
	}
}
