package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/provider/twilio"
)

// BenchmarkWebhook measures the CPU and the allocations of one inbound
// webhook on the full path (signature, form, state machine, the store's
// script on a real Redis, TwiML, the access log as JSON), called through
// the server's handler so that no HTTP client is counted. The messages
// cycle JOIN, HELP, STOP over 500 senders, each a new MessageSid, so every
// one is a transition, a reply or both (past 20 000 iterations they repeat
// and take the duplicate path; -benchtime 1s stays well below).
//
//	go test -run '^$' -bench BenchmarkWebhook -benchmem ./gateway/
func BenchmarkWebhook(b *testing.B) {
	h := newHarnessWith(b, func(o *gateway.Options) {
		enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
		o.Logger = zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zapcore.InfoLevel))
	})
	handler := h.srv.Handler()
	npas := []string{"202", "212", "312", "415", "617"}
	texts := []string{"JOIN", "HELP", "STOP"}
	type msg struct{ body, sig string }
	msgs := make([]msg, 20000)
	for i := range msgs {
		person := i % 500
		from := fmt.Sprintf("+1%s555%04d", npas[person/100], 100+person%100) // +1 NPA 555 01XX
		form := inboundForm(fmt.Sprintf("SM%032x", i), from, bizNumber, texts[i/500%len(texts)])
		msgs[i] = msg{form.Encode(), twilio.Sign(twilioToken, publicURL+webhookPath, form)}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m := msgs[i%len(msgs)]
		req := httptest.NewRequest(http.MethodPost, webhookPath, strings.NewReader(m.body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(twilio.SignatureHeader, m.sig)
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("message %d: status %d %s", i, w.Code, w.Body)
		}
	}
}
