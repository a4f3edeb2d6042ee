package store

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func testKeyring(tb testing.TB, ids ...string) *Keyring {
	tb.Helper()
	var keys []MasterKey
	for _, id := range ids {
		k := MasterKey{ID: id, Key: make([]byte, MasterKeySize)}
		_, _ = rand.Read(k.Key)
		keys = append(keys, k)
	}
	r, err := NewKeyring(keys)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// TestSealedValuesStayInPlace: a sealed value opens only under its own
// tenant, subscriber and purpose, and a wrapped data key only for its own
// subscriber and under the master key its tag names.
func TestSealedValuesStayInPlace(t *testing.T) {
	r := testKeyring(t, "k1")
	dk, err := r.newDataKey("demo", "aaaa")
	if err != nil {
		t.Fatal(err)
	}
	sealed := dk.seal([]byte("+12125550123"), adOf("demo", "aaaa", "phone"))
	if strings.Contains(sealed, "2125550123") || !strings.HasPrefix(sealed, sealedPrefix) {
		t.Fatalf("seal = %q; want enc: and no number", sealed)
	}
	if got, err := dk.open(sealed, adOf("demo", "aaaa", "phone")); err != nil || string(got) != "+12125550123" {
		t.Fatalf("open in place = %q, %v; want the number", got, err)
	}
	for _, ad := range []string{adOf("other", "aaaa", "phone"), adOf("demo", "bbbb", "phone"), adOf("demo", "aaaa", "code/deals")} {
		if _, err := dk.open(sealed, ad); err == nil {
			t.Errorf("open under %q = nil error; want it refused", ad)
		}
	}
	var erased *dataKey
	if _, err := erased.open(sealed, adOf("demo", "aaaa", "phone")); !errors.Is(err, ErrErased) {
		t.Errorf("open without a data key = %v; want ErrErased", err)
	}
	if !strings.HasPrefix(dk.wrapped, "k1.") {
		t.Errorf("wrapped data key %q; want it tagged k1", dk.wrapped)
	}
	if _, err := r.openDataKey("demo", "bbbb", dk.wrapped); err == nil {
		t.Error("a data key moved to another subscriber opens; want it refused")
	}
	newer := testKeyring(t, "k2")
	if _, err := newer.openDataKey("demo", "aaaa", dk.wrapped); err == nil || !strings.Contains(err.Error(), `"k1", which is not configured`) {
		t.Errorf("open under a keyring without k1 = %v; want the key id named", err)
	}
	for _, bad := range [][]MasterKey{nil, {{ID: "k.1", Key: make([]byte, 32)}}, {{ID: "k1", Key: make([]byte, 16)}}, {{ID: "k1", Key: make([]byte, 32)}, {ID: "k1", Key: make([]byte, 32)}}} {
		if _, err := NewKeyring(bad); err == nil {
			t.Errorf("NewKeyring(%d keys, ids %v) = nil error; want an error", len(bad), bad)
		}
	}
}
