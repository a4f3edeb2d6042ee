package gateway

import (
	"context"
	"maps"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/optin"
)

// ConfigStore is what the admin API needs of persistence: configuration
// documents (compare-and-set, versioned, each change on the audit trail),
// API tokens and the access log.
type ConfigStore interface {
	// LoadConfig returns every tenant with its campaigns and numbers.
	LoadConfig(ctx context.Context) (optin.ConfigSet, error)
	// ConfigVersion changes with every ConfigPut, by any instance.
	ConfigVersion(ctx context.Context) (int64, error)
	// ConfigGet returns a document's JSON (optin.ErrNotFound if absent).
	ConfigGet(ctx context.Context, ref optin.ConfigRef) ([]byte, error)
	// ConfigPut replaces prev (nil: absent) with next (nil: delete) and
	// records rec, atomically; optin.ErrConflict when prev is not current.
	ConfigPut(ctx context.Context, ref optin.ConfigRef, prev, next []byte, rec *optin.ConfigChange) error
	// Tokens returns the tokens of tenant.
	Tokens(ctx context.Context, tenant string) ([]optin.TokenDoc, error)
	// RecordAccess writes an access entry to the access log and the audit log.
	RecordAccess(ctx context.Context, e optin.AccessEntry) error
	// AccessLog returns a tenant's access entries since since, newest first.
	AccessLog(ctx context.Context, tenant string, since time.Time, limit int) ([]optin.AccessEntry, error)
}

// DefaultConfigPoll is how often WatchConfig asks whether another instance
// changed the configuration.
const DefaultConfigPoll = time.Second

// snapshot is the configuration as the hot path reads it: built once per
// change, then only read.
type snapshot struct {
	version int64
	numbers map[string]*optin.Number // by E.164
	modes   map[string]ReplyMode     // by E.164
	tenants map[string][]string      // tenant → campaign ids, in a stable order
	set     optin.ConfigSet          // the documents; empty in static mode
}

// snap returns the current configuration.
func (s *Server) snap() *snapshot { return s.cfg.Load() }

// staticSnapshot is the configuration of Options.Numbers.
func staticSnapshot(numbers map[string]*optin.Number, modes map[string]ReplyMode) *snapshot {
	sn := &snapshot{numbers: numbers, modes: modes, tenants: map[string][]string{}}
	if sn.modes == nil {
		sn.modes = map[string]ReplyMode{}
	}
	// Numbers in order, so that a tenant's campaigns are listed the same
	// way on every start: by number, then as the number lists them.
	for _, e164 := range slices.Sorted(maps.Keys(numbers)) {
		n := numbers[e164]
		for _, id := range n.CampaignIDs() {
			if !slices.Contains(sn.tenants[n.Tenant], id) {
				sn.tenants[n.Tenant] = append(sn.tenants[n.Tenant], id)
			}
		}
	}
	return sn
}

// buildSnapshot is the configuration of the documents of set. A stored
// number that does not validate (written by a newer version, say) is left
// out and logged.
func buildSnapshot(set optin.ConfigSet, log *zap.Logger) *snapshot {
	numbers := map[string]*optin.Number{}
	modes := map[string]ReplyMode{}
	for tid, t := range set.Tenants {
		t = t.WithDefaults()
		camps := map[string]optin.CampaignDoc{}
		for id, c := range set.Campaigns[tid] {
			camps[id] = c.WithDefaults()
		}
		for e164, doc := range set.Numbers[tid] {
			doc = doc.WithDefaults()
			n, err := optin.BuildNumber(t, doc, camps)
			if err != nil {
				log.Error("config: stored number left out", zap.String("tenant", tid), zap.Stringer("number", optin.Phone(e164)), zap.Error(err))
				continue
			}
			numbers[e164] = n
			if doc.ReplyMode == "api" {
				modes[e164] = ReplyAPI
			}
		}
	}
	sn := staticSnapshot(numbers, modes)
	sn.version, sn.set = set.Version, set
	for tid := range set.Tenants {
		// Campaigns on no number come last, by id.
		for _, id := range slices.Sorted(maps.Keys(set.Campaigns[tid])) {
			if !slices.Contains(sn.tenants[tid], id) {
				sn.tenants[tid] = append(sn.tenants[tid], id)
			}
		}
		if sn.tenants[tid] == nil {
			sn.tenants[tid] = []string{}
		}
	}
	return sn
}

// reloadConfig reads the configuration from the store and makes it current.
func (s *Server) reloadConfig(ctx context.Context) error {
	set, err := s.opts.Services.Config.LoadConfig(ctx)
	if err != nil {
		return err
	}
	sn := buildSnapshot(set, s.log)
	for {
		// Two reloads at once: the later version wins, whatever finishes last.
		cur := s.cfg.Load()
		if cur.set.Tenants != nil && cur.version > sn.version {
			return nil
		}
		if s.cfg.CompareAndSwap(cur, sn) {
			return nil
		}
	}
}

// WatchConfig polls the configuration's version every interval
// (DefaultConfigPoll when not positive) and reloads it when another
// instance changed it, until ctx is done. Changes made through this
// server apply at once without it. It does nothing in static mode.
func (s *Server) WatchConfig(ctx context.Context, interval time.Duration) {
	if s.opts.Services.Config == nil {
		return
	}
	if interval <= 0 {
		interval = DefaultConfigPoll
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v, err := s.opts.Services.Config.ConfigVersion(ctx)
		if err != nil || v == s.snap().version {
			continue
		}
		if err := s.reloadConfig(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("config: reload failed", zap.Error(err))
		}
	}
}
