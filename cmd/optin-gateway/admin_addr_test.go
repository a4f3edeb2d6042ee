package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestServeAdminAddr: with OPTIN_ADMIN_ADDR, serve answers /metrics on
// the admin listener without a token and 404 on the public one.
func TestServeAdminAddr(t *testing.T) {
	addr, adminAddr := freeAddr(t), freeAddr(t)
	env := map[string]string{
		"OPTIN_ADDR":       addr,
		"OPTIN_ADMIN_ADDR": adminAddr,
		"OPTIN_PUBLIC_URL": "http://" + addr,
		"OPTIN_DATA_DIR":   t.TempDir(),
		"OPTIN_LOG_FORMAT": "json",
	}
	_, stop := startServe(t, exampleConfig, env)
	if status, body := get(t, "http://"+adminAddr+"/metrics"); status != http.StatusOK || !strings.Contains(body, "optin_security_events_total") {
		t.Errorf("admin listener GET /metrics: %d; want 200 with the metrics", status)
	}
	if status, _ := get(t, "http://"+addr+"/metrics"); status != http.StatusNotFound {
		t.Errorf("public listener GET /metrics: %d; want 404", status)
	}
	if status, _ := get(t, "http://"+adminAddr+"/healthz"); status != http.StatusOK {
		t.Errorf("admin listener GET /healthz: %d; want 200", status)
	}
	stop()
}
