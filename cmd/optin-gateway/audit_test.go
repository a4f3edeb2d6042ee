package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/store"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

// states returns what the admin API says of phone: per campaign, its state
// and since when.
func (w *webhookClient) states(tb testing.TB, phone string) map[string]string {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, w.url+"/v1/tenants/demo/subscribers/"+url.PathEscape(phone), nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+faultAdmin)
	resp, err := w.client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Campaigns []struct {
			Campaign  string     `json:"campaign"`
			State     string     `json:"state"`
			ChangedAt *time.Time `json:"changed_at"`
		} `json:"campaigns"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET subscriber: %d %v", resp.StatusCode, err)
	}
	out := map[string]string{}
	for _, c := range v.Campaigns {
		out[c.Campaign] = c.State
		if c.ChangedAt != nil {
			out[c.Campaign] += " since " + c.ChangedAt.UTC().Format(time.RFC3339Nano)
		}
	}
	return out
}

// runCmd runs optin-gateway args in process and returns its output.
func runCmd(ctx context.Context, args ...string) (string, error) {
	var out bytes.Buffer
	err := run(ctx, args, func(string) string { return "" }, &out, io.Discard)
	return out.String(), err
}

func TestOperatorSubcommands(t *testing.T) {
	srv := redistest.Start(t)
	cfgPath, cfg, st, wc := newTestGateway(t, srv)
	ctx := context.Background()

	// Some history: 60 subscribers, each left in one of three states.
	phones := faultPhones(t, 60)
	for i, p := range phones {
		replies, err := wc.send(ctx, p, "JOIN")
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			continue // pending
		}
		if _, err := wc.send(ctx, p, strings.Fields(replies[0])[1]); err != nil {
			t.Fatal(err)
		}
		if i%3 == 2 {
			if _, err := wc.send(ctx, p, "STOP"); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := 60 + 40 + 20

	archiveAll(t, st, cfg.Audit.Dir, cfgPath, want)
	out, err := runCmd(ctx, "audit", "verify", "--config", cfgPath)
	if err != nil || !strings.HasPrefix(out, "ok: 120 records in ") {
		t.Errorf("audit verify = %q, %v; want ok: 120 records", out, err)
	}

	out, err = runCmd(ctx, "audit", "evidence", "--config", cfgPath, "--tenant", "demo", "--phone", phones[2])
	if err != nil {
		t.Fatalf("audit evidence = %v", err)
	}
	var ev optin.Evidence
	if err := json.Unmarshal([]byte(out), &ev); err != nil {
		t.Fatalf("audit evidence printed %q: %v", out, err)
	}
	var chain []string
	for _, r := range ev.Records {
		chain = append(chain, r.Event.From.String()+"→"+r.Event.To.String())
	}
	if got := strings.Join(chain, " "); got != "none→pending pending→subscribed subscribed→unsubscribed" || ev.HeadSeq != 120 {
		t.Errorf("audit evidence = %s, head %d; want the three transitions, head 120", got, ev.HeadSeq)
	}

	// Disaster: Redis loses everything; rebuild brings back every state.
	before := map[string]map[string]string{}
	for _, p := range phones {
		before[p] = wc.states(t, p)
	}
	if err := srv.Client(t).FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	out, err = runCmd(ctx, "rebuild", "--config", cfgPath)
	if err != nil || !strings.HasPrefix(out, "rebuilt 60 subscribers") {
		t.Fatalf("rebuild = %q, %v; want rebuilt 60 subscribers", out, err)
	}
	for _, p := range phones {
		got := wc.states(t, p)
		for c, w := range before[p] {
			if got[c] != w {
				t.Errorf("subscriber %d %s after rebuild = %q; want %q", indexOf(phones, p), c, got[c], w)
			}
		}
	}
	if _, err := runCmd(ctx, "rebuild", "--config", cfgPath); !errors.Is(err, store.ErrNotEmpty) || exitCode(err) != 1 {
		t.Errorf("rebuild into a filled Redis = %v; want ErrNotEmpty, exit 1", err)
	}
	// Life goes on after the rebuild: the next transition is archived onto
	// the same chain.
	if _, err := wc.send(ctx, phones[0], "STOP"); err != nil {
		t.Fatal(err)
	}
	archiveAll(t, st, cfg.Audit.Dir, cfgPath, want+1)
	if s := wc.states(t, phones[0]); !strings.HasPrefix(s["deals"], "unsubscribed") {
		t.Errorf("after rebuild and STOP, deals = %q; want unsubscribed", s["deals"])
	}

	// Tampering: one flipped byte, and verify names the record and fails.
	seg := filepath.Join(cfg.Audit.Dir, "seg-000000000001.log")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	i := bytes.Index(lines[41], []byte(`"to":"`)) + len(`"to":"`)
	lines[41][i] ^= 0x20
	if err := os.WriteFile(seg, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = runCmd(ctx, "audit", "verify", "--config", cfgPath, "--offline")
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "record 42 (seg-000000000001.log line 42): edited") {
		t.Errorf("audit verify of a flipped byte = %v (exit %d); want record 42 edited, exit 1", err, exitCode(err))
	}
}

// archiveAll runs the archive subcommand until the outbox is drained and
// the log holds want records.
func archiveAll(tb testing.TB, st *store.Store, dir, cfgPath string, want int) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	archived := make(chan error, 1)
	go func() {
		_, err := runCmd(ctx, "archive", "--config", cfgPath)
		archived <- err
	}()
	for deadline := time.Now().Add(time.Minute); ; {
		n, err := st.OutboxLen(ctx)
		if sum, verr := store.VerifyLog(dir); err == nil && verr == nil && n == 0 && sum.Records == uint64(want) {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("archive did not drain the outbox into %d records within a minute", want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-archived; err != nil {
		tb.Fatalf("archive = %v", err)
	}
}

func indexOf(list []string, v string) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return -1
}
