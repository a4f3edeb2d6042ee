package config

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

func TestMasterKeys(t *testing.T) {
	k1 := sha256.Sum256([]byte("optin-gateway config test key 1"))
	k2 := sha256.Sum256([]byte("optin-gateway config test key 2"))
	b1, b2 := base64.StdEncoding.EncodeToString(k1[:]), base64.StdEncoding.EncodeToString(k2[:])
	path := writeFile(t, "optin.yaml", base)

	c, err := Load(path, env(map[string]string{"OPTIN_MASTER_KEY": testKeyB64}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.MasterKeys) != 1 || c.MasterKeys[0].ID != SingleKeyID || string(c.PseudonymKey) != string(testKey[:]) {
		t.Errorf("OPTIN_MASTER_KEY alone: MasterKeys = %v, pseudonym key = master key %v; want one key %q and the pseudonym key = master key",
			c.MasterKeys, string(c.PseudonymKey) == string(testKey[:]), SingleKeyID)
	}

	c, err = Load(path, env(map[string]string{"OPTIN_MASTER_KEYS": "k2=" + b2 + ", k1=" + b1, "OPTIN_PSEUDONYM_KEY_FILE": writeFile(t, "pk", testKeyB64+"\n")}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.MasterKeys) != 2 || c.MasterKeys[0].ID != "k2" || c.MasterKeys[1].ID != "k1" || string(c.MasterKey) != string(k2[:]) || string(c.PseudonymKey) != string(testKey[:]) {
		t.Errorf("OPTIN_MASTER_KEYS: ids %v; want [k2 k1], MasterKey the newest, the pseudonym key from its file", c.MasterKeys)
	}

	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no pseudonym key", map[string]string{"OPTIN_MASTER_KEYS": "k1=" + b1}, "config: OPTIN_PSEUDONYM_KEY: required when OPTIN_MASTER_KEYS is set"},
		{"both single and several", map[string]string{"OPTIN_MASTER_KEYS": "k1=" + b1, "OPTIN_MASTER_KEY": b2, "OPTIN_PSEUDONYM_KEY": b2}, "config: OPTIN_MASTER_KEY and OPTIN_MASTER_KEYS are both set"},
		{"no id", map[string]string{"OPTIN_MASTER_KEYS": b1, "OPTIN_PSEUDONYM_KEY": b2}, "config: OPTIN_MASTER_KEYS: entry 1: want id=base64"},
		{"bad id", map[string]string{"OPTIN_MASTER_KEYS": "k.1=" + b1, "OPTIN_PSEUDONYM_KEY": b2}, "config: OPTIN_MASTER_KEYS: entry 1: want id=base64"},
		{"id twice", map[string]string{"OPTIN_MASTER_KEYS": "k1=" + b1 + ",k1=" + b2, "OPTIN_PSEUDONYM_KEY": b2}, `config: OPTIN_MASTER_KEYS: key id "k1" given twice`},
		{"short key", map[string]string{"OPTIN_MASTER_KEYS": "k1=" + b1 + ",k0=" + b1[:20], "OPTIN_PSEUDONYM_KEY": b2}, `config: OPTIN_MASTER_KEYS: key "k0": must be base64 of 32 bytes`},
		{"bad pseudonym key", map[string]string{"OPTIN_MASTER_KEYS": "k1=" + b1, "OPTIN_PSEUDONYM_KEY": "nope"}, "config: OPTIN_PSEUDONYM_KEY: must be base64 of 32 bytes"},
		{"keys file and value", map[string]string{"OPTIN_MASTER_KEYS": "k1=" + b1, "OPTIN_MASTER_KEYS_FILE": "/x"}, "config: OPTIN_MASTER_KEYS and OPTIN_MASTER_KEYS_FILE are both set"},
	} {
		_, err := Load(path, env(tc.env))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: Load = %v; want %q", tc.name, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), b1) || strings.Contains(err.Error(), b2) {
			t.Errorf("%s: error %q shows a key", tc.name, err)
		}
	}
}
