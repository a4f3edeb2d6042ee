package security

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/events"
)

// AlertTries is how often a Notifier tries to deliver one alert.
const AlertTries = 3

// Notifier posts alerts to the operator's URL as JSON, signed with the
// event webhooks' scheme (events.SignatureHeader over the body), in the
// background: an alert never waits on the operator's endpoint.
type Notifier struct {
	URL    string
	Secret string
	Client *http.Client // a client that follows no redirects when nil
	Log    *zap.Logger
	Now    func() time.Time
	wg     sync.WaitGroup
}

// body is what the operator's endpoint receives.
type alertBody struct {
	Type string `json:"type"` // "security.alert"
	Alert
}

// Notify posts a in the background, AlertTries times at most.
func (n *Notifier) Notify(a Alert) {
	if n == nil || n.URL == "" {
		return
	}
	body, err := json.Marshal(alertBody{Type: "security.alert", Alert: a})
	if err != nil {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		var err error
		for try := 1; try <= AlertTries; try++ {
			if err = n.post(body); err == nil {
				return
			}
			time.Sleep(time.Duration(try) * 500 * time.Millisecond)
		}
		n.log().Warn("security alert not delivered to OPTIN_SECURITY_ALERT_URL", zap.String("rule", a.Rule), zap.Error(err))
	}()
}

// Wait waits for the alerts in flight.
func (n *Notifier) Wait() {
	if n != nil {
		n.wg.Wait()
	}
}

func (n *Notifier) log() *zap.Logger {
	if n.Log == nil {
		return zap.NewNop()
	}
	return n.Log
}

func (n *Notifier) post(body []byte) error {
	c := n.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	now := time.Now
	if n.Now != nil {
		now = n.Now
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(events.SignatureHeader, events.Sign([]byte(n.Secret), now(), body))
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close() // a read-only body: nothing to lose
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("alert endpoint answered %d", resp.StatusCode)
	}
	return nil
}
