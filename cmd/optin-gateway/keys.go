package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/config"
	"github.com/optin-gateway/optin-gateway/security"
	"github.com/optin-gateway/optin-gateway/store"
)

// storeOptions are the store options of cfg on the Redis at url, with
// master (the generated key of the embedded mode) when cfg has none.
func storeOptions(cfg *config.Config, url string, master []byte) store.Options {
	o := store.Options{URL: url, MasterKey: master, PseudonymKey: cfg.PseudonymKey, Shards: cfg.Shards, SubscriberCache: cfg.SubscriberCache}
	if cfg.SubscriberCache == 0 {
		o.SubscriberCache = -1 // off
	}
	for _, k := range cfg.MasterKeys {
		o.MasterKeys = append(o.MasterKeys, store.MasterKey{ID: k.ID, Key: k.Key})
	}
	return o
}

// runKeys is the keys command: rotate re-wraps every data key under the
// newest master key of OPTIN_MASTER_KEYS while the gateway serves; status
// counts the data keys per master key id.
func runKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "rotate" && args[0] != "status") {
		return usageError{"keys: want rotate or status"}
	}
	o, err := openOperator(ctx, newFlagSet("keys "+args[0], stderr), args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	defer o.close()
	enc := json.NewEncoder(stdout)
	if args[0] == "status" {
		counts, err := o.st.KeyStatus(ctx)
		if err != nil {
			return fmt.Errorf("keys status: %w", err)
		}
		ids := make([]string, 0, len(o.cfg.MasterKeys))
		for _, k := range o.cfg.MasterKeys {
			ids = append(ids, k.ID)
		}
		return enc.Encode(map[string]any{"newest": ids[0], "configured": ids, "data_keys": counts, "ids_in_use": slices.Sorted(maps.Keys(counts))})
	}
	start := time.Now()
	st, err := o.st.Rotate(ctx)
	if err != nil {
		return fmt.Errorf("keys rotate: %w (%d re-wrapped so far; running it again is safe)", err, st.Rewrapped)
	}
	ev := security.Event{Kind: security.KindKeyRotation, At: time.Now().UTC(), Count: 1, Actor: "operator", Target: o.cfg.MasterKeys[0].ID}
	if err := o.st.AddSecurityEvents(ctx, [][]byte{ev.Marshal()}); err != nil {
		o.log.Warn("keys rotate: the security event of the rotation was not recorded", zap.Error(err))
	}
	if err := enc.Encode(map[string]any{"newest": o.cfg.MasterKeys[0].ID, "stats": st, "took": time.Since(start).Round(time.Millisecond).String()}); err != nil {
		return err
	}
	if st.Failed > 0 {
		return fmt.Errorf("keys rotate: %d data keys are wrapped under a master key that is not configured; keep the old keys until they are re-wrapped", st.Failed)
	}
	return nil
}
