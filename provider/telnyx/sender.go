package telnyx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/provider"
)

// DefaultBaseURL is Telnyx's API.
const DefaultBaseURL = "https://api.telnyx.com"

// Sender sends through Telnyx's Messages API (POST /v2/messages) with a
// small client of ours: Telnyx's Go SDK is not on the Go module proxy this
// project builds from.
type Sender struct {
	apiKey  string
	baseURL string
	hc      *http.Client
}

// NewSender returns a Telnyx sender; baseURL "" is DefaultBaseURL and hc
// nil a client with provider.DefaultSendTimeout.
func NewSender(apiKey, baseURL string, hc *http.Client) (*Sender, error) {
	if apiKey == "" {
		return nil, errors.New("outbound: telnyx api key is required")
	}
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	if hc == nil {
		hc = &http.Client{Timeout: provider.DefaultSendTimeout}
	}
	return &Sender{apiKey: apiKey, baseURL: strings.TrimRight(baseURL, "/"), hc: hc}, nil
}

// Name returns "telnyx".
func (t *Sender) Name() string { return Name }

// Send posts {"from","to","text"} to /v2/messages and returns data.id.
// A refusal carries the first error's code, and SendError.OptOut when it
// is ErrorOptedOut.
// Delivery statuses go to the messaging profile's webhook.
func (t *Sender) Send(ctx context.Context, r optin.Reply, _ string) (string, error) {
	body, err := json.Marshal(map[string]string{"from": r.From, "to": r.To.E164(), "text": r.Body})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.baseURL+"/v2/messages", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+t.apiKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	status, raw, err := provider.Post(t.hc, req, Name)
	if err != nil {
		return "", err
	}
	if status/100 != 2 {
		var e struct {
			Errors []struct {
				Code   string `json:"code"`
				Title  string `json:"title"`
				Detail string `json:"detail"`
			} `json:"errors"`
		}
		se := &provider.SendError{Status: status, Message: http.StatusText(status)}
		if json.Unmarshal(raw, &e) == nil && len(e.Errors) > 0 {
			se.Code, _ = strconv.Atoi(e.Errors[0].Code)
			se.Message = e.Errors[0].Title
			se.OptOut = optedOut(e.Errors[0].Code)
		}
		return "", se
	}
	var ok struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &ok); err != nil || ok.Data.ID == "" {
		return "", fmt.Errorf("outbound: telnyx: answer %d without a message id", status)
	}
	return ok.Data.ID, nil
}

// Find cannot tell: Telnyx's API has no lookup of messages by recipient.
// A send whose outcome is unknown is therefore sent again (at least once
// for Telnyx, where Twilio gets exactly once).
func (t *Sender) Find(context.Context, optin.Reply, time.Time) (string, error) { return "", nil }
