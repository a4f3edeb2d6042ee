package lanes_test

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/internal/lanes"
)

// TestWorkersDependOnTheKit holds the layering: the outbound senders and
// the event workers know the queues through the kit's item types, never
// the store that implements them.
func TestWorkersDependOnTheKit(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./outbound", "./events")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/optin-gateway/optin-gateway/internal/lanes") {
		t.Errorf("outbound and events do not use the kit; deps:\n%s", out)
	}
	for _, p := range deps {
		if strings.HasPrefix(p, "github.com/optin-gateway/optin-gateway/store") {
			t.Errorf("outbound or events depends on %s", p)
		}
	}
}

func TestTuningDefaults(t *testing.T) {
	def := lanes.Tuning{MaxAttempts: 8, BaseBackoff: time.Second, MaxBackoff: time.Minute,
		LeaseTTL: 10 * time.Second, Poll: time.Millisecond, Batch: 100, MaxInFlight: 1000}
	got := lanes.Tuning{MaxAttempts: 3, Poll: -1}.WithDefaults(def, "w-")
	if got.MaxAttempts != 3 || got.Poll != time.Millisecond || got.BaseBackoff != time.Second || got.Batch != 100 {
		t.Errorf("WithDefaults = %+v; want the set fields kept, the zero and negative ones defaulted", got)
	}
	if !strings.HasPrefix(got.Owner, "w-") || len(got.Owner) != len("w-")+12 {
		t.Errorf("Owner = %q; want w- and 12 hex digits", got.Owner)
	}
	if got.Logger == nil || got.Now == nil || got.Jitter == nil {
		t.Error("WithDefaults left Logger, Now or Jitter nil")
	}
	if o := (lanes.Tuning{Owner: "me"}).WithDefaults(def, "w-").Owner; o != "me" {
		t.Errorf("Owner = %q; want the one given", o)
	}
}

// TestBackoff: the delay doubles per try from BaseBackoff, is capped at
// MaxBackoff (also where the shift overflows) and keeps its lower half
// (equal jitter: never early).
func TestBackoff(t *testing.T) {
	lo := lanes.Tuning{BaseBackoff: time.Second, MaxBackoff: 30 * time.Second, Jitter: func(time.Duration) time.Duration { return 0 }}
	hi := lo
	hi.Jitter = func(d time.Duration) time.Duration { return d - 1 }
	for _, c := range []struct {
		tries    int
		min, max time.Duration
	}{
		{0, 500 * time.Millisecond, time.Second},
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{4, 4 * time.Second, 8 * time.Second},
		{6, 15 * time.Second, 30 * time.Second},
		{200, 15 * time.Second, 30 * time.Second},
	} {
		if got := lo.Backoff(c.tries); got != c.min {
			t.Errorf("Backoff(%d) at least %v; want %v", c.tries, got, c.min)
		}
		if got := hi.Backoff(c.tries); got != c.max {
			t.Errorf("Backoff(%d) at most %v; want %v", c.tries, got, c.max)
		}
	}
}
