package store

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/optin"
)

//go:embed cfgput.lua
var cfgPutSource string

var cfgPutScript = redis.NewScript(cfgPutSource)

// DefaultAccessLogLen is how many access entries per tenant stay in Redis
// for the access-log route; the audit log keeps them all.
const DefaultAccessLogLen = 100000

// configKey returns the hash and field that hold the document r names.
func configKey(r optin.ConfigRef) (hash, field string) {
	switch r.Object {
	case optin.ObjectTenant:
		return cfgTenantsKey(), r.Tenant
	case optin.ObjectCampaign:
		return cfgCampaignsKey(r.Tenant), r.ID
	case optin.ObjectNumber:
		return cfgNumbersKey(r.Tenant), r.ID
	case optin.ObjectWebhook:
		return cfgWebhooksKey(), webhookField(r.Tenant, r.ID)
	}
	return cfgTokensKey(), r.ID
}

// ConfigGet returns the stored JSON of the document ref names, or an error
// wrapping optin.ErrNotFound.
func (s *Store) ConfigGet(ctx context.Context, ref optin.ConfigRef) ([]byte, error) {
	hash, field := configKey(ref)
	b, err := s.rdb.HGet(ctx, hash, field).Bytes()
	return b, translate("config get "+hash+" "+field, err)
}

// ConfigPut replaces the document ref names with next (nil: deletes it) if
// its stored JSON is still prev (nil: absent), bumps the config version and
// appends rec (unless nil) to the config outbox, atomically. A document
// changed meanwhile gives an error wrapping optin.ErrConflict.
func (s *Store) ConfigPut(ctx context.Context, ref optin.ConfigRef, prev, next []byte, rec *optin.ConfigChange) error {
	hash, field := configKey(ref)
	var recJSON []byte
	if rec != nil {
		rec.Kind = "config"
		var err error
		if recJSON, err = json.Marshal(rec); err != nil {
			return fmt.Errorf("store: config put %s %s: %w", hash, field, err)
		}
	}
	res, err := cfgPutScript.Run(ctx, s.rdb, []string{hash, cfgVersionKey(), CfgOutboxKey()},
		field, prev, next, recJSON).StringSlice()
	if err != nil {
		return translate("config put "+hash+" "+field, err)
	}
	if len(res) != 2 || res[0] != "ok" {
		return fmt.Errorf("store: config put %s %s: %w", hash, field, optin.ErrConflict)
	}
	return nil
}

// ConfigVersion returns the configuration's version: it changes with every
// ConfigPut.
func (s *Store) ConfigVersion(ctx context.Context) (int64, error) {
	v, err := s.rdb.Get(ctx, cfgVersionKey()).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return v, translate("config version", err)
}

// LoadConfig returns every tenant with its campaigns and numbers, in two
// round trips. Documents are returned as stored (defaults not applied).
func (s *Store) LoadConfig(ctx context.Context) (optin.ConfigSet, error) {
	set := optin.ConfigSet{Tenants: map[string]optin.TenantDoc{}, Campaigns: map[string]map[string]optin.CampaignDoc{}, Numbers: map[string]map[string]optin.NumberDoc{}}
	pipe := s.rdb.Pipeline()
	ver := pipe.Get(ctx, cfgVersionKey())
	tenants := pipe.HGetAll(ctx, cfgTenantsKey())
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return set, translate("load config", err)
	}
	set.Version, _ = strconv.ParseInt(ver.Val(), 10, 64)
	pipe = s.rdb.Pipeline()
	camps := map[string]*redis.MapStringStringCmd{}
	nums := map[string]*redis.MapStringStringCmd{}
	for id, raw := range tenants.Val() {
		var t optin.TenantDoc
		if err := json.Unmarshal([]byte(raw), &t); err != nil {
			return set, fmt.Errorf("store: load config %s %s: %w", cfgTenantsKey(), id, err)
		}
		set.Tenants[id] = t
		camps[id] = pipe.HGetAll(ctx, cfgCampaignsKey(id))
		nums[id] = pipe.HGetAll(ctx, cfgNumbersKey(id))
	}
	if len(camps) == 0 {
		return set, nil
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return set, translate("load config", err)
	}
	for t := range set.Tenants {
		var err error
		if set.Campaigns[t], err = decodeDocs[optin.CampaignDoc](cfgCampaignsKey(t), camps[t].Val()); err != nil {
			return set, err
		}
		if set.Numbers[t], err = decodeDocs[optin.NumberDoc](cfgNumbersKey(t), nums[t].Val()); err != nil {
			return set, err
		}
	}
	return set, nil
}

// decodeDocs decodes the JSON documents of the configuration hash key
// (m, its fields), by field.
func decodeDocs[T any](key string, m map[string]string) (map[string]T, error) {
	out := make(map[string]T, len(m))
	for id, raw := range m {
		var d T
		if err := json.Unmarshal([]byte(raw), &d); err != nil {
			return nil, fmt.Errorf("store: load config %s %s: %w", key, id, err)
		}
		out[id] = d
	}
	return out, nil
}

// Tokens returns every token of tenant (every token when tenant is "").
func (s *Store) Tokens(ctx context.Context, tenant string) ([]optin.TokenDoc, error) {
	all, err := s.rdb.HGetAll(ctx, cfgTokensKey()).Result()
	if err != nil {
		return nil, translate("tokens", err)
	}
	out := []optin.TokenDoc{}
	for id, raw := range all {
		var t optin.TokenDoc
		if err := json.Unmarshal([]byte(raw), &t); err != nil {
			return nil, fmt.Errorf("store: tokens %s: %w", id, err)
		}
		if tenant == "" || t.Tenant == tenant {
			out = append(out, t)
		}
	}
	return out, nil
}

// RecordAccess appends e to its tenant's access log and to the config
// outbox (and so to the audit log), in one transaction.
func (s *Store) RecordAccess(ctx context.Context, e optin.AccessEntry) error {
	e.Kind = "access"
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("store: access %s: %w", e.ID, err)
	}
	key := accessKey(e.Tenant)
	pipe := s.rdb.TxPipeline()
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: key, MaxLen: DefaultAccessLogLen, Approx: true, Values: []any{"a", b}})
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: CfgOutboxKey(), Values: []any{"a", b}})
	_, err = pipe.Exec(ctx)
	return translate("access "+key, err)
}

// AccessLog returns tenant's access entries at or after since, newest
// first, at most limit.
func (s *Store) AccessLog(ctx context.Context, tenant string, since time.Time, limit int) ([]optin.AccessEntry, error) {
	key := accessKey(tenant)
	start := "-"
	if !since.IsZero() {
		start = strconv.FormatInt(since.UnixMilli(), 10)
	}
	msgs, err := s.rdb.XRevRangeN(ctx, key, "+", start, int64(limit)).Result()
	if err != nil {
		return nil, translate("access log "+key, err)
	}
	out := make([]optin.AccessEntry, 0, len(msgs))
	for _, m := range msgs {
		raw, _ := m.Values["a"].(string)
		var e optin.AccessEntry
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			return nil, fmt.Errorf("store: access log %s %s: %w", key, m.ID, err)
		}
		if !e.At.Before(since) {
			out = append(out, e)
		}
	}
	return out, nil
}

// BootstrapConfig writes the tenants, campaigns and numbers of set that
// the store does not hold yet, each as version 1 (a campaign: its own
// Version when set, the file's campaign version) by actor "bootstrap" at
// at; what the store holds already is left as it is (the admin API owns
// it). It returns how many documents it wrote.
func (s *Store) BootstrapConfig(ctx context.Context, set optin.ConfigSet, at time.Time) (int, error) {
	meta := optin.Meta{Version: 1, UpdatedAt: at.UTC(), UpdatedBy: "bootstrap"}
	written := 0
	put := func(ref optin.ConfigRef, doc any, version int) error {
		b, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("store: bootstrap %s %s: %w", ref.Object, ref.ID, err)
		}
		rec := &optin.ConfigChange{ID: fmt.Sprintf("cfg:%s:%s:%s:v%d", ref.Object, ref.Tenant, ref.ID, version), Tenant: ref.Tenant,
			Object: ref.Object, Key: ref.ID, Action: "create", Version: version, Actor: meta.UpdatedBy, At: meta.UpdatedAt, Doc: b}
		err = s.ConfigPut(ctx, ref, nil, b, rec)
		switch {
		case err == nil:
			written++
		case errors.Is(err, optin.ErrConflict): // held already
		default:
			return err
		}
		return nil
	}
	for _, tid := range slices.Sorted(maps.Keys(set.Tenants)) {
		t := set.Tenants[tid]
		t.Meta = meta
		if err := put(optin.ConfigRef{Object: optin.ObjectTenant, Tenant: tid, ID: tid}, t, 1); err != nil {
			return written, err
		}
		for _, id := range slices.Sorted(maps.Keys(set.Campaigns[tid])) {
			c := set.Campaigns[tid][id]
			v := max(c.Version, 1) // the file's campaign version, recorded in events
			c.Meta = meta
			c.Version = v
			if err := put(optin.ConfigRef{Object: optin.ObjectCampaign, Tenant: tid, ID: id}, c, v); err != nil {
				return written, err
			}
		}
		for _, id := range slices.Sorted(maps.Keys(set.Numbers[tid])) {
			n := set.Numbers[tid][id]
			n.Meta = meta
			if err := put(optin.ConfigRef{Object: optin.ObjectNumber, Tenant: tid, ID: id}, n, 1); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}
