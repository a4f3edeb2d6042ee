// Package storetest opens stores for tests, each on a redis-server of its
// own.
package storetest

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/optin-gateway/optin-gateway/store"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

// Open starts a private redis-server and opens a store on it with o: its
// URL is the server's and, unless o has one, its master key is a new
// random one. The store is closed at the test's end.
func Open(tb testing.TB, o store.Options) (*store.Store, *redistest.Server) {
	tb.Helper()
	srv := redistest.Start(tb)
	o.URL = srv.URL()
	if o.MasterKey == nil && o.MasterKeys == nil {
		o.MasterKey = make([]byte, store.MasterKeySize)
		if _, err := rand.Read(o.MasterKey); err != nil {
			tb.Fatal(err)
		}
	}
	st, err := store.Open(context.Background(), o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	return st, srv
}
