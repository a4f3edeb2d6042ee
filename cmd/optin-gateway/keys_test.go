package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/store"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

// TestKeysCommand: keys status counts the data keys per master key id;
// keys rotate re-wraps them under the newest; with an old key dropped too
// early, rotate fails naming the cause.
func TestKeysCommand(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	key := func() string {
		b := make([]byte, store.MasterKeySize)
		_, _ = rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	k1, k2, pk := key(), key(), key()
	raw := func(b64 string) []byte { b, _ := base64.StdEncoding.DecodeString(b64); return b }
	st, err := store.Open(ctx, store.Options{URL: srv.URL(), MasterKeys: []store.MasterKey{{ID: "k1", Key: raw(k1)}}, PseudonymKey: raw(pk), Shards: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const people = 12
	for i := range people {
		p := optin.Phone(fmt.Sprintf("+1212555%04d", 100+i))
		in := optin.Inbound{Provider: "twilio", MessageID: fmt.Sprintf("SM%032d", i), Text: "HELP"}
		sub, _, err := st.Load(ctx, "demo", p, nil, in)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.Apply(ctx, sub, optin.Decision{Next: sub, Replies: []string{"help text"}}, in, []byte("<Response/>")); err != nil {
			t.Fatal(err)
		}
	}
	keysCmd := func(keys string, args ...string) (map[string]any, error) {
		env := map[string]string{
			"OPTIN_PUBLIC_URL": "http://localhost:8080", "OPTIN_TWILIO_AUTH_TOKEN": "testtwiliotoken0123456789abcdef0",
			"OPTIN_ADMIN_TOKEN": "test-admin-token-0123456789", "OPTIN_REDIS_URL": srv.URL(),
			"OPTIN_MASTER_KEYS": keys, "OPTIN_PSEUDONYM_KEY": pk, "OPTIN_SHARDS": "4",
		}
		var out bytes.Buffer
		err := run(ctx, append([]string{"keys"}, args...), func(k string) string { return env[k] }, &out, io.Discard)
		var v map[string]any
		if out.Len() > 0 {
			if jerr := json.Unmarshal(out.Bytes(), &v); jerr != nil {
				t.Fatalf("keys %v printed %q: %v", args, out.String(), jerr)
			}
		}
		return v, err
	}
	if v, err := keysCmd("k1="+k1, "status"); err != nil || fmt.Sprint(v["data_keys"]) != fmt.Sprintf("map[k1:%d]", people) {
		t.Fatalf("keys status = %v, %v; want %d data keys under k1", v, err, people)
	}
	if _, err := keysCmd("k2="+k2, "rotate"); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Errorf("keys rotate without the old key = %v; want an error saying the old key is not configured", err)
	}
	v, err := keysCmd("k2="+k2+",k1="+k1, "rotate")
	if err != nil || fmt.Sprint(v["stats"]) != fmt.Sprintf("map[changed:0 current:0 failed:0 rewrapped:%d scanned:%d]", people, people) {
		t.Fatalf("keys rotate = %v, %v; want %d re-wrapped", v, err, people)
	}
	if v, err := keysCmd("k2="+k2, "status"); err != nil || fmt.Sprint(v["data_keys"]) != fmt.Sprintf("map[k2:%d]", people) {
		t.Errorf("keys status after rotation = %v, %v; want %d data keys under k2", v, err, people)
	}
	if _, err := keysCmd("k2="+k2, "spin"); err == nil {
		t.Error("keys spin = nil error; want a usage error")
	}
}
