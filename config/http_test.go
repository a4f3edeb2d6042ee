package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoadHTTP(t *testing.T) {
	c, err := Load("", env(requiredEnv()))
	if err != nil {
		t.Fatal(err)
	}
	want := HTTP{HTTPTimeouts: HTTPTimeouts{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Body: 10 * time.Second, Write: 30 * time.Second, Idle: 120 * time.Second}}
	if c.HTTP != want {
		t.Errorf("HTTP defaults = %+v; want %+v", c.HTTP, want)
	}

	// The file, then the environment over it.
	content := base + `http: {read_header_timeout: 2s, read_timeout: 20s, body_timeout: 3s, write_timeout: 40s, idle_timeout: 1m}
admin_addr: "127.0.0.1:9090"
`
	e := map[string]string{"OPTIN_HTTP_BODY_TIMEOUT": "4s", "OPTIN_HTTP_IDLE_TIMEOUT": "90s"}
	if c, err = Load(writeFile(t, "c.yaml", content), env(e)); err != nil {
		t.Fatal(err)
	}
	want = HTTP{HTTPTimeouts: HTTPTimeouts{ReadHeader: 2 * time.Second, Read: 20 * time.Second, Body: 4 * time.Second, Write: 40 * time.Second, Idle: 90 * time.Second}, AdminAddr: "127.0.0.1:9090"}
	if c.HTTP != want {
		t.Errorf("HTTP from file and env = %+v; want %+v", c.HTTP, want)
	}
	e = requiredEnv()
	e["OPTIN_ADMIN_ADDR"] = ":9091"
	if c, err = Load("", env(e)); err != nil || c.HTTP.AdminAddr != ":9091" {
		t.Errorf("OPTIN_ADMIN_ADDR=:9091: AdminAddr %q, %v; want :9091", c.HTTP.AdminAddr, err)
	}
}

func TestLoadHTTPErrors(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"OPTIN_HTTP_READ_HEADER_TIMEOUT", "0s", "config: OPTIN_HTTP_READ_HEADER_TIMEOUT: must be a positive duration"},
		{"OPTIN_HTTP_READ_TIMEOUT", "soon", "config: OPTIN_HTTP_READ_TIMEOUT: must be a positive duration"},
		{"OPTIN_HTTP_BODY_TIMEOUT", "-1s", "config: OPTIN_HTTP_BODY_TIMEOUT: must be a positive duration"},
		{"OPTIN_HTTP_WRITE_TIMEOUT", "10", "config: OPTIN_HTTP_WRITE_TIMEOUT: must be a positive duration"},
		{"OPTIN_HTTP_IDLE_TIMEOUT", "0", "config: OPTIN_HTTP_IDLE_TIMEOUT: must be a positive duration"},
		{"OPTIN_ADMIN_ADDR", "9090", "config: OPTIN_ADMIN_ADDR: must be host:port"},
		{"OPTIN_ADMIN_ADDR", ":8080", "config: OPTIN_ADMIN_ADDR: must differ from the public listener's address :8080"},
	} {
		e := requiredEnv()
		e[tc.name] = tc.value
		if _, err := Load("", env(e)); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s=%s: Load() = %v; want %q", tc.name, tc.value, err, tc.want)
		}
	}
	if _, err := Load(writeFile(t, "c.yaml", base+"http: {write_timeout: 0s}\n"), env(nil)); err == nil || !strings.HasPrefix(err.Error(), "config: http.write_timeout: must be a positive duration") {
		t.Errorf("http.write_timeout: 0s: Load() = %v", err)
	}
}
