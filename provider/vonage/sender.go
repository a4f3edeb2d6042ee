package vonage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/provider"
)

// DefaultBaseURL is Vonage's SMS API.
const DefaultBaseURL = "https://rest.nexmo.com"

// Sender sends through Vonage's SMS API (POST /sms/json) with a small
// client of ours: Vonage's Go SDK is not on the Go module proxy this
// project builds from.
type Sender struct {
	apiKey, apiSecret string
	baseURL           string
	hc                *http.Client
}

// NewSender returns a Vonage sender; baseURL "" is DefaultBaseURL and hc
// nil a client with provider.DefaultSendTimeout.
func NewSender(apiKey, apiSecret, baseURL string, hc *http.Client) (*Sender, error) {
	if apiKey == "" || apiSecret == "" {
		return nil, errors.New("outbound: vonage api key and secret are required")
	}
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	if hc == nil {
		hc = &http.Client{Timeout: provider.DefaultSendTimeout}
	}
	return &Sender{apiKey: apiKey, apiSecret: apiSecret, baseURL: strings.TrimRight(baseURL, "/"), hc: hc}, nil
}

// Name returns "vonage".
func (v *Sender) Name() string { return Name }

// Send posts the message as a form and returns the first part's
// message-id. Vonage answers 200 with a status per part: "0" is accepted,
// "1" (throttled) and "5" (internal error) are temporary, anything else is
// a refusal with that status as the code. No send status means an opt-out
// (status 9 is an account out of credit; ErrorOptedOut is an err-code of
// delivery receipts, read by the webhook's OptOut), so a refusal never
// carries SendError.OptOut.
func (v *Sender) Send(ctx context.Context, r optin.Reply, _ string) (string, error) {
	form := url.Values{
		"api_key": {v.apiKey}, "api_secret": {v.apiSecret},
		"from": {strings.TrimPrefix(r.From, "+")}, "to": {strings.TrimPrefix(r.To.E164(), "+")}, "text": {r.Body},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.baseURL+"/sms/json", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	answered, raw, err := provider.Post(v.hc, req, Name)
	if err != nil {
		return "", err
	}
	if answered/100 != 2 {
		return "", &provider.SendError{Status: answered, Message: http.StatusText(answered)}
	}
	var ans struct {
		Messages []struct {
			Status    string `json:"status"`
			MessageID string `json:"message-id"`
			ErrorText string `json:"error-text"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil || len(ans.Messages) == 0 {
		return "", fmt.Errorf("outbound: vonage: malformed answer")
	}
	for _, m := range ans.Messages {
		if m.Status == "0" {
			continue
		}
		code, _ := strconv.Atoi(m.Status)
		status := http.StatusBadRequest
		switch code {
		case 1:
			status = http.StatusTooManyRequests
		case 5:
			status = http.StatusInternalServerError
		}
		return "", &provider.SendError{Status: status, Code: code, Message: m.ErrorText}
	}
	return ans.Messages[0].MessageID, nil
}

// Find cannot tell: Vonage's SMS API has no lookup of messages by
// recipient, so a send whose outcome is unknown is sent again (at least
// once).
func (v *Sender) Find(context.Context, optin.Reply, time.Time) (string, error) { return "", nil }
