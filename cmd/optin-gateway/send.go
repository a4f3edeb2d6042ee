package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/optin-gateway/optin-gateway/config"
	"github.com/optin-gateway/optin-gateway/internal/phone"
	"github.com/optin-gateway/optin-gateway/provider/twilio"
)

// twilioPath is the route of Twilio's inbound webhook.
const twilioPath = "/v1/webhooks/twilio/sms"

// runSend posts one inbound message to the running gateway, signed exactly
// as Twilio signs it with the configured auth token and public URL, and
// prints the replies.
func runSend(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("send", stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML); the environment overrides it")
	from := fs.String("from", "", "the sender's number in E.164, e.g. +12125550123")
	to := fs.String("to", "", "the business number (default: the first configured one)")
	target := fs.String("gateway", "", "where to post (default: the public URL); the signature always covers the public URL")
	sid := fs.String("sid", "", "the MessageSid (default: random); repeat one to see a retry answered")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	text := strings.Join(fs.Args(), " ")
	if *from == "" || text == "" {
		return usageError{"usage: optin-gateway send [--config FILE] --from +12125550123 [--to NUMBER] TEXT…"}
	}
	cfg, err := config.Load(*cfgPath, getenv)
	if err != nil {
		return err
	}
	tw, _ := cfg.Provider(twilio.Name).(*twilio.Settings)
	if tw == nil || tw.AuthToken == "" {
		return fmt.Errorf("send: posts as Twilio does and needs twilio.auth_token (or OPTIN_TWILIO_AUTH_TOKEN)")
	}
	sender, err := phone.Parse(*from)
	if err != nil {
		return usageError{"--from: " + err.Error()}
	}
	if *to == "" {
		*to = firstNumber(cfg)
	}
	form := twilioForm(*sid, sender.E164(), *to, text)
	signedURL := cfg.PublicURL + twilioPath
	postURL := signedURL
	if *target != "" {
		postURL = strings.TrimRight(*target, "/") + twilioPath
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, postURL, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, twilio.Sign(tw.AuthToken, signedURL, form))
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("send: read reply: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("send: gateway answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	replies, err := parseTwiML(body)
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if len(replies) == 0 {
		fmt.Fprintln(stdout, "(no reply)")
	}
	for _, r := range replies {
		fmt.Fprintln(stdout, r)
	}
	return nil
}

// twilioForm returns the parameters of an inbound SMS webhook as Twilio
// posts them.
func twilioForm(sid, from, to, body string) url.Values {
	if sid == "" {
		sid = randomSid("SM")
	}
	return url.Values{
		"MessageSid":    {sid},
		"SmsSid":        {sid},
		"SmsMessageSid": {sid},
		"AccountSid":    {"AC" + strings.Repeat("0", 32)},
		"From":          {from},
		"To":            {to},
		"Body":          {body},
		"NumMedia":      {"0"},
		"NumSegments":   {"1"},
		"SmsStatus":     {"received"},
		"ApiVersion":    {"2010-04-01"},
		"FromCountry":   {"US"},
		"ToCountry":     {"US"},
	}
}

// randomSid returns a Twilio-style id: a prefix and 32 hex digits.
func randomSid(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func firstNumber(cfg *config.Config) string {
	best := ""
	for n := range cfg.Numbers() {
		if best == "" || n < best {
			best = n
		}
	}
	return best
}

// parseTwiML returns the bodies of the <Message> elements of a TwiML
// messaging response.
func parseTwiML(b []byte) ([]string, error) {
	var doc struct {
		Messages []string `xml:"Message"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("reply is not TwiML: %w", err)
	}
	return doc.Messages, nil
}
