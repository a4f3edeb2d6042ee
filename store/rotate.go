package store

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

//go:embed rewrap.lua
var rewrapSource string

var rewrapScript = redis.NewScript(rewrapSource)

// RotateStats counts what Rotate did.
type RotateStats struct {
	Scanned   int `json:"scanned"`   // data keys found
	Rewrapped int `json:"rewrapped"` // now under the newest master key
	Current   int `json:"current"`   // were under it already
	Changed   int `json:"changed"`   // erased or replaced meanwhile: left to the change
	// Failed are data keys no configured master key opens.
	Failed int `json:"failed"`
}

// Rotate re-wraps every data key under the newest master key, while the
// gateway serves traffic: each key is read, unwrapped under the key id it
// is tagged with, wrapped anew and written back only if unchanged since
// the read (a concurrent erasure or creation wins). Running it twice is
// harmless. Once it reports no Failed keys and a second run rewraps none,
// the older master keys can be removed from the configuration.
func (s *Store) Rotate(ctx context.Context) (RotateStats, error) {
	var st RotateStats
	newest := s.keys.Newest()
	err := s.scanKeys(ctx, dataKeyPattern(), func(keys []string) error {
		vals, err := s.getAll(ctx, keys)
		if err != nil {
			return err
		}
		for i, key := range keys {
			w, ok := vals[i].(string)
			if !ok {
				continue // gone since the scan
			}
			st.Scanned++
			if strings.HasPrefix(w, newest+".") {
				st.Current++
				continue
			}
			tenant, id, ok := parseDataKeyKey(key)
			if !ok {
				st.Failed++
				continue
			}
			ad := adOf(tenant, id, "dk")
			raw, _, err := s.keys.unwrap(w, ad)
			if err != nil {
				st.Failed++
				continue
			}
			nw, err := s.keys.wrap(raw, ad)
			if err != nil {
				return err
			}
			n, err := rewrapScript.Run(ctx, s.rdb, []string{key}, w, nw).Int()
			if err != nil {
				return translate("rotate "+key, err)
			}
			if n == 1 {
				st.Rewrapped++
			} else {
				st.Changed++
			}
		}
		return nil
	})
	return st, err
}

// KeyStatus counts the data keys per master key id they are wrapped under.
func (s *Store) KeyStatus(ctx context.Context) (map[string]int, error) {
	counts := map[string]int{}
	err := s.scanKeys(ctx, dataKeyPattern(), func(keys []string) error {
		vals, err := s.getAll(ctx, keys)
		if err != nil {
			return err
		}
		for _, v := range vals {
			if w, ok := v.(string); ok {
				id, _, _ := strings.Cut(w, ".")
				counts[id]++
			}
		}
		return nil
	})
	return counts, err
}

// scanKeys calls fn with every page of keys matching pattern, on every
// master of a cluster; fn is never called concurrently.
func (s *Store) scanKeys(ctx context.Context, pattern string, fn func(keys []string) error) error {
	var mu sync.Mutex
	scan := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, pattern, 500).Iterator()
		page := make([]string, 0, 500)
		flush := func() error {
			if len(page) == 0 {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			err := fn(page)
			page = page[:0]
			return err
		}
		for iter.Next(ctx) {
			page = append(page, iter.Val())
			if len(page) == cap(page) {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := iter.Err(); err != nil {
			return translate("scan "+pattern, err)
		}
		return flush()
	}
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return scan(ctx, m) })
	}
	return scan(ctx, s.rdb)
}

// getAll GETs keys in one pipeline (split by slot on a cluster): a value
// per key, nil for a key that is gone.
func (s *Store) getAll(ctx context.Context, keys []string) ([]any, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Get(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, translate(fmt.Sprintf("get %d keys", len(keys)), err)
	}
	out := make([]any, len(keys))
	for i, c := range cmds {
		if v, err := c.Result(); err == nil {
			out[i] = v
		}
	}
	return out, nil
}
