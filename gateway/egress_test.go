package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// ssrfURLs are event webhook URLs aimed inside the gateway's network
// (issue 19, finding 4), in the spellings a resolver accepts.
var ssrfURLs = []string{
	"https://127.0.0.1/hook",
	"https://169.254.169.254/latest/meta-data/iam/security-credentials/",
	"https://10.0.0.5/hook",
	"https://172.16.0.1/hook",
	"https://192.168.1.1/hook",
	"https://100.64.0.1/hook",
	"https://[::1]/hook",
	"https://[fd00:ec2::254]/latest/meta-data/",
	"https://[::ffff:127.0.0.1]/hook",
	"https://[::ffff:7f00:1]/hook",
	"https://[fe80::1%25eth0]/hook",
	"https://0.0.0.0/hook",
	"https://2130706433/hook",
	"https://0x7f000001/hook",
	"https://0177.0.0.1/hook",
	"https://127.1/hook",
	"https://localhost/hook",
	"https://admin.localhost/hook",
	"https://\u24dbocalhost/hook", // ⓛocalhost: localhost once the client maps it (IDNA)
	"http://127.0.0.1:6379/",      // http to loopback: only where the operator allows loopback
	"https://[64:ff9b::a9fe:a9fe]/hook",
	"https://[2002:a9fe:a9fe::]/hook",
}

// TestWebhookSSRFRefused: the admin API refuses an event webhook aimed at
// a loopback, private, link-local, CGNAT, ULA, unspecified or mapped
// address, in any spelling, or at localhost: 400 naming the field url,
// nothing stored. A public name is accepted.
func TestWebhookSSRFRefused(t *testing.T) {
	h := newAdminHarness(t) // no allow-list
	for i, u := range ssrfURLs {
		body, _ := json.Marshal(map[string]any{"url": u})
		r := h.call(http.MethodPut, fmt.Sprintf("/v1/tenants/demo/webhooks/h%d", i), adminToken, string(body))
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, `"field":"url"`) {
			t.Errorf("PUT webhook %s = %d %s; want 400, field url", u, r.status, r.body)
		}
	}
	if r := h.call(http.MethodGet, "/v1/tenants/demo/webhooks", adminToken, ""); r.body != `{"items":[]}`+"\n" {
		t.Errorf("webhooks after the refused PUTs = %s; want none", r.body)
	}
	h.putWebhook("crm", "https://hooks.example.com/optin")
}
