package store

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/optin"
)

// TestConsoleSessions: a session comes back as stored and marked seen;
// its key expires after the idle timeout, capped by the absolute limit;
// it ends idle or old, on close, and with its token, and a copy of Redis
// names it only by the hash of its id.
func TestConsoleSessions(t *testing.T) {
	st, srv := newTestStore(t, 1)
	rdb := srv.Client(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	const idle, max = 30 * time.Minute, 8 * time.Hour
	open := func(id, tok string) {
		t.Helper()
		rec := optin.ConsoleSession{TokenID: tok, TokenHash: "h-" + tok, Tenant: "demo", CSRF: []byte("csrf-" + id), Created: t0, LastSeen: t0}
		if err := st.OpenConsoleSession(ctx, id, rec, idle, max); err != nil {
			t.Fatal(err)
		}
	}
	touch := func(id string, at time.Duration) bool {
		t.Helper()
		got, ok, err := st.TouchConsoleSession(ctx, id, t0.Add(at), idle, max)
		if err != nil {
			t.Fatal(err)
		}
		if ok && (got.Tenant != "demo" || !bytes.Equal(got.CSRF, []byte("csrf-"+id)) || !got.Created.Equal(t0) || !strings.HasPrefix(got.TokenHash, "h-")) {
			t.Errorf("session %s = %+v; want it as stored", id, got)
		}
		return ok
	}
	pttl := func(id string) time.Duration {
		t.Helper()
		return rdb.PTTL(ctx, consoleSessionKey(consoleIDHash(id))).Val()
	}

	open("a", "tok_1")
	if d := pttl("a"); d <= 29*time.Minute || d > idle {
		t.Errorf("TTL after open = %v; want the idle timeout", d)
	}
	keys := rdb.Keys(ctx, "og:{console}:*").Val()
	for _, k := range keys {
		if strings.HasSuffix(k, ":a") {
			t.Errorf("key %s names the session id", k)
		}
	}
	if !touch("a", 29*time.Minute) || !touch("a", 58*time.Minute) {
		t.Fatal("a session used within the idle timeout ended")
	}
	if touch("a", 88*time.Minute) {
		t.Error("a session idle for 30 minutes is live")
	}
	if n := rdb.Exists(ctx, consoleSessionKey(consoleIDHash("a"))).Val(); n != 0 {
		t.Error("the idle session's record is still there")
	}

	open("b", "tok_1")
	for at := 20 * time.Minute; at < max; at += 20 * time.Minute {
		if !touch("b", at) {
			t.Fatalf("a busy session ended at %v", at)
		}
	}
	if d := pttl("b"); d > 20*time.Minute+time.Second {
		t.Errorf("TTL 20 minutes before the absolute limit = %v; want at most 20m", d)
	}
	if touch("b", max) {
		t.Error("a session is live 8 hours after it opened")
	}

	open("c", "tok_1")
	open("d", "tok_1")
	open("e", "tok_2")
	if err := st.CloseConsoleSession(ctx, "c", "tok_1"); err != nil {
		t.Fatal(err)
	}
	if touch("c", time.Minute) {
		t.Error("a closed session is live")
	}
	if n, err := st.CloseTokenConsoleSessions(ctx, "tok_1"); err != nil || n != 1 {
		t.Errorf("CloseTokenConsoleSessions = %d, %v; want 1 (d)", n, err)
	}
	if touch("d", time.Minute) || !touch("e", time.Minute) {
		t.Error("closing tok_1's sessions: want d ended and e live")
	}
	if n, err := st.CloseTokenConsoleSessions(ctx, "tok_3"); err != nil || n != 0 {
		t.Errorf("CloseTokenConsoleSessions of a token without sessions = %d, %v; want 0", n, err)
	}
}
