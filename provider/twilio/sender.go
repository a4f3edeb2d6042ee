package twilio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/provider"
)

// SenderOptions configure the Twilio sender.
type SenderOptions struct {
	AccountSid string // AC…
	// Username and Password authenticate the REST calls: an API key SID
	// and secret, or the Account SID and auth token when empty.
	Username, Password string
	// HTTPClient defaults to one with provider.DefaultSendTimeout:
	// twilio-go's calls take no context, so only its timeout bounds them. Tests give one
	// whose transport leads to a local fake of Twilio's API.
	HTTPClient *http.Client
}

// Sender sends through Twilio's Messages API with twilio-go's REST client.
type Sender struct {
	rc         *twilio.RestClient
	accountSid string
}

// NewSender returns a Twilio sender.
func NewSender(o SenderOptions) (*Sender, error) {
	if o.AccountSid == "" || o.Password == "" {
		return nil, errors.New("outbound: twilio account sid and auth token (or api key and secret) are required")
	}
	if o.Username == "" {
		o.Username = o.AccountSid
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: provider.DefaultSendTimeout}
	}
	c := &client.Client{Credentials: client.NewCredentials(o.Username, o.Password), HTTPClient: o.HTTPClient}
	c.SetAccountSid(o.AccountSid)
	return &Sender{rc: twilio.NewRestClientWithParams(twilio.ClientParams{Client: c}), accountSid: o.AccountSid}, nil
}

// Name returns "twilio".
func (t *Sender) Name() string { return Name }

// Send creates the message with Api.CreateMessage.
func (t *Sender) Send(_ context.Context, r optin.Reply, statusCallback string) (string, error) {
	p := &api.CreateMessageParams{}
	p.SetTo(r.To.E164()).SetFrom(r.From).SetBody(r.Body)
	if statusCallback != "" {
		p.SetStatusCallback(statusCallback)
	}
	m, err := t.rc.Api.CreateMessage(p)
	if err != nil {
		return "", sendError(err)
	}
	if m.Sid == nil || *m.Sid == "" {
		return "", errors.New("outbound: twilio: created message without sid")
	}
	return *m.Sid, nil
}

// Find lists the latest messages from r.From to r.To (newest first, one
// page) and returns the sid of one with r's body created since since.
func (t *Sender) Find(_ context.Context, r optin.Reply, since time.Time) (string, error) {
	p := &api.ListMessageParams{}
	p.SetTo(r.To.E164()).SetFrom(r.From).SetPageSize(50)
	page, err := t.rc.Api.PageMessage(p, "", "")
	if err != nil {
		return "", sendError(err)
	}
	for _, m := range page.Messages {
		if m.Body == nil || *m.Body != r.Body || m.Sid == nil || m.DateCreated == nil {
			continue
		}
		at, err := time.Parse(time.RFC1123Z, *m.DateCreated)
		if err != nil {
			return "", fmt.Errorf("outbound: twilio: date_created %q: %w", *m.DateCreated, err)
		}
		// date_created has whole seconds.
		if !at.Before(since.Truncate(time.Second)) {
			return *m.Sid, nil
		}
	}
	return "", nil
}

// sendError turns twilio-go's error into a *provider.SendError when
// Twilio answered with one; its OptOut is set for ErrorOptedOut.
func sendError(err error) error {
	var te *client.TwilioRestError
	if errors.As(err, &te) {
		return &provider.SendError{Status: te.Status, Code: te.Code, Message: te.Message, OptOut: optedOut(strconv.Itoa(te.Code))}
	}
	var v1 *client.RestErrorV1
	if errors.As(err, &v1) {
		return &provider.SendError{Status: v1.HttpStatusCode, Code: v1.Code, Message: v1.Message, OptOut: optedOut(strconv.Itoa(v1.Code))}
	}
	return provider.TransportError(Name, err)
}
