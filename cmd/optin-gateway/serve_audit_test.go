package main

import (
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/store"
)

// TestServeArchives runs serve on the embedded Redis, sends it a JOIN with
// the send subcommand and waits for the transition to reach the audit log
// that serve's own archiver writes.
func TestServeArchives(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dataDir := t.TempDir()
	cfgPath := writeFaultConfig(t, "", "", true)
	env := map[string]string{"OPTIN_ADDR": addr, "OPTIN_DATA_DIR": dataDir, "OPTIN_PUBLIC_URL": "http://" + addr}
	getenv := func(k string) string { return env[k] }

	ctx, _, stop := serveInBackground(t, cfgPath, getenv, io.Discard)
	defer stop()
	waitHTTP(t, "http://"+addr+"/healthz")

	if err := run(ctx, []string{"send", "--config", cfgPath, "--from", "+12125550123", "JOIN"}, getenv, io.Discard, io.Discard); err != nil {
		t.Fatalf("send = %v", err)
	}
	dir := filepath.Join(dataDir, "audit")
	var got []optin.AuditRecord
	for deadline := time.Now().Add(time.Minute); len(got) == 0; {
		got = got[:0]
		_, _ = store.WalkLog(dir, func(r optin.AuditRecord) error {
			if r.Config == nil { // the bootstrapped configuration comes first
				got = append(got, r)
			}
			return nil
		})
		if time.Now().After(deadline) {
			t.Fatal("no record in serve's audit log a minute after the JOIN")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if ev := got[0].Event; len(got) != 1 || ev.To != optin.StatePending || ev.Cause.Words != "" || ev.Sealed == "" || ev.CampaignVersion != 4 {
		t.Errorf("serve archived %+v; want one none→pending record of campaign version 4, its words sealed", got)
	}
}

// waitHTTP polls url until it answers 200.
func waitHTTP(tb testing.TB, url string) {
	tb.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s did not answer 200 within 30 s: %v", url, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
