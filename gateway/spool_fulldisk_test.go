package gateway_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/spool"
	"github.com/optin-gateway/optin-gateway/store"
)

// mountTmpfs mounts a tmpfs of size bytes on a new temporary directory
// and unmounts it when the test ends; it skips the test where it cannot
// (not root, or no right to mount).
func mountTmpfs(tb testing.TB, size int) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root to mount a tmpfs (a real full disk); spool's TestSpoolAppendFailureNeverMergesLines covers the same with a failing writer")
	}
	dir := tb.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput(); err != nil {
		tb.Skipf("needs root to mount a tmpfs, and mount refused: %v %s", err, out)
	}
	// Runs before TempDir's removal and after the spool is closed (both
	// registered later).
	tb.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			tb.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file in dir until the file system is full and returns
// its path.
func fill(tb testing.TB, dir string) string {
	tb.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				tb.Fatalf("filling %s: %v; want no space left", dir, err)
			}
			return path
		}
	}
}

// TestSpoolFullDiskTmpfs: with Redis stopped, STOPs go to the spool on a
// real, small tmpfs through the webhook. The disk fills up: the STOP whose
// line is torn gets 503 (the provider's retry carries it) and so does the
// next one; space comes back and the next STOPs get 200. Once Redis is
// back, replay applies every STOP that was answered 200 and none that got
// 503, and finds no corrupt line. On the old code the first line after
// the space came back ran on after the torn bytes: one undecryptable line,
// a STOP answered 200 never applied.
func TestSpoolFullDiskTmpfs(t *testing.T) {
	dir := mountTmpfs(t, 64<<10)
	key := make([]byte, store.MasterKeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	sp, err := spool.Open(filepath.Join(dir, "spool"), key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	h := newHarnessWith(t, func(o *gateway.Options) { o.Services.Spool = sp })

	var people []string
	for i := range 26 {
		p := fmt.Sprintf("+120255501%02d", 70+i)
		h.sms(p, bizNumber, codeIn(t, h.sms(p, bizNumber, "JOIN")[0]))
		people = append(people, p)
	}
	next := func() string {
		if len(people) == 0 {
			t.Fatal("ran out of subscribers")
		}
		p := people[0]
		people = people[1:]
		return p
	}
	var acked, refused []string
	stop := func(want int) {
		t.Helper()
		p := next()
		r := h.post(inboundForm(newSid(), p, bizNumber, "STOP"))
		switch {
		case r.status != want:
			t.Fatalf("STOP from %s: %d %s; want %d", p, r.status, r.body, want)
		case r.status == http.StatusOK:
			if got := r.messages(t); !slices.Equal(got, []string{stopReply}) {
				t.Fatalf("STOP from %s: replies %q; want the stop confirmation", p, got)
			}
			acked = append(acked, p)
		default:
			refused = append(refused, p)
		}
	}
	current := filepath.Join(dir, "spool", "current")
	size := func() int64 {
		t.Helper()
		fi, err := os.Stat(current)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}

	h.redis.Stop(t)
	stop(http.StatusOK)
	stop(http.StatusOK)
	filler := fill(t, dir)
	// What is left of the spool file's last page takes whole lines (200)
	// until a line does not fit: it is torn, its STOP gets 503.
	page := int64(os.Getpagesize())
	var torn int64
	for len(refused) == 0 {
		before := size()
		p := people[0]
		r := h.post(inboundForm(newSid(), p, bizNumber, "STOP"))
		people = people[1:]
		switch r.status {
		case http.StatusOK:
			acked = append(acked, p)
		case http.StatusServiceUnavailable:
			refused = append(refused, p)
			torn = (page - before%page) % page
			if after := size(); after != before {
				t.Errorf("spool file after the failed STOP: %d bytes; want %d, cut back to its last good size", after, before)
			}
		default:
			t.Fatalf("STOP from %s on a full disk: %d %s; want 200 or 503", p, r.status, r.body)
		}
		if len(acked) > 20 { // a page takes 13 lines of about 300 bytes
			t.Fatal("the disk never filled up")
		}
	}
	if torn == 0 {
		t.Fatal("the failed STOP wrote no bytes: nothing was torn, the test proves nothing; change the sizes")
	}
	stop(http.StatusServiceUnavailable) // still full
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	stop(http.StatusOK)
	stop(http.StatusOK)

	h.redis.Restart(t)
	h.waitReady()
	st := h.replay(sp)
	t.Logf("tmpfs of 64 KiB; %d STOPs answered 200, %d answered 503 (the first torn after %d bytes); replay: %+v", len(acked), len(refused), torn, st)
	for _, p := range acked {
		if s := h.states(p)["deals"]; s != "unsubscribed" {
			t.Errorf("after replay %s (STOP answered 200) deals = %q; want unsubscribed", p, s)
		}
	}
	for _, p := range refused {
		if s := h.states(p)["deals"]; s != "subscribed" {
			t.Errorf("after replay %s (STOP answered 503, never acknowledged) deals = %q; want subscribed", p, s)
		}
	}
	if st.Applied != len(acked) || st.Corrupt != 0 {
		t.Errorf("replay = %+v; want %d applied, none corrupt", st, len(acked))
	}
}
