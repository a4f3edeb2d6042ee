package main

// client.go is the one place that knows the admin API's wire format
// (routes under /v1, JSON both ways, a bearer token): its paths, its object
// shapes and its error document.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Meta is what the server adds to every stored object. A PUT that carries
// Version is refused with 409 when it is not the current one.
type Meta struct {
	Version   int    `json:"version,omitempty" yaml:"-"`
	UpdatedAt string `json:"updated_at,omitempty" yaml:"-"`
	UpdatedBy string `json:"updated_by,omitempty" yaml:"-"`
}

// Tenant is a business. Its campaigns and numbers are separate objects on
// the wire; in a campaigns file they are listed inside it.
type Tenant struct {
	ID              string     `json:"id" yaml:"id"`
	Name            string     `json:"name" yaml:"name"`
	RevocationScope string     `json:"revocation_scope" yaml:"revocation_scope"`
	Campaigns       []Campaign `json:"-" yaml:"campaigns"`
	Numbers         []Number   `json:"-" yaml:"numbers"`
	Meta            `yaml:",inline"`
}

// Campaign is one opt-in program of a tenant.
type Campaign struct {
	ID                string   `json:"id" yaml:"id"`
	Name              string   `json:"name" yaml:"name"`
	Keywords          []string `json:"keywords" yaml:"keywords"`
	Prompt            string   `json:"prompt" yaml:"prompt"`
	Confirmation      string   `json:"confirmation" yaml:"confirmation"`
	Help              string   `json:"help" yaml:"help"`
	StopReply         string   `json:"stop_reply" yaml:"stop_reply"`
	AlreadySubscribed string   `json:"already_subscribed" yaml:"already_subscribed"`
	Expired           string   `json:"expired" yaml:"expired"`
	CodeLength        int      `json:"code_length" yaml:"code_length"`
	CodeTTL           Duration `json:"code_ttl" yaml:"code_ttl"`
	MaxAttempts       int      `json:"max_attempts" yaml:"max_attempts"`
	MaxPrompts        int      `json:"max_prompts" yaml:"max_prompts"`
	PromptWindow      Duration `json:"prompt_window" yaml:"prompt_window"`
	MaxSegments       int      `json:"max_segments" yaml:"max_segments"`
	// FileVersion is the "version" key of config/example.yaml's campaigns.
	// apply ignores it: the server numbers versions itself.
	FileVersion int `json:"-" yaml:"version"`
	Meta        `yaml:",inline"`
}

// Number is a business number of a tenant and the campaigns it runs.
type Number struct {
	Number                string   `json:"number" yaml:"number"`
	Campaigns             []string `json:"campaigns" yaml:"campaigns"`
	StopReply             string   `json:"stop_reply" yaml:"stop_reply"`
	ProviderHandlesOptOut bool     `json:"provider_handles_opt_out" yaml:"provider_handles_opt_out"`
	KeywordPacks          []string `json:"keyword_packs" yaml:"keyword_packs"`
	ReplyMode             string   `json:"reply_mode" yaml:"reply_mode"`
	RateLimit             float64  `json:"rate_limit" yaml:"rate_limit"`
	Meta                  `yaml:",inline"`
}

// Duration is a time.Duration written as a Go duration string ("1h0m0s")
// in JSON and as one ("1h") in YAML.
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string such as \"1h\", got %s", b)
	}
	return d.parse(s)
}

// UnmarshalYAML reads a duration string such as 90s or 1h.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 1h", n.Line)
	}
	if err := d.parse(n.Value); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

func (d *Duration) parse(s string) error {
	if s == "" || s == "0" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 90s or 1h", s)
	}
	*d = Duration(v)
	return nil
}

// Token is an API token of a tenant. Secret is set only in the answer to
// its creation.
type Token struct {
	ID        string `json:"id"`
	Secret    string `json:"token,omitempty"`
	Tenant    string `json:"tenant"`
	Role      string `json:"role"`
	Name      string `json:"name"`
	CreatedAt string `json:"created_at"`
}

// list is the envelope of every collection.
type list[T any] struct {
	Items []T `json:"items"`
}

// APIError is a non-2xx answer: its status and the server's error document.
type APIError struct {
	Status  int
	Message string `json:"error"`
	Field   string `json:"field"`
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Field != "" {
		return fmt.Sprintf("%d: %s: %s", e.Status, e.Field, msg)
	}
	return fmt.Sprintf("%d: %s", e.Status, msg)
}

// Client speaks to one gateway's admin API as one token. Its methods
// return the body of a 2xx answer, an *APIError for any other status, and
// another error when the server could not be reached.
type Client struct {
	BaseURL string // e.g. http://localhost:8080, no trailing slash
	Token   string
	HTTP    *http.Client
}

// seg escapes one path segment; "+" of an E.164 number becomes %2B.
func seg(s string) string {
	return strings.ReplaceAll(url.PathEscape(s), "+", "%2B")
}

func tenantPath(t string) string { return "/v1/tenants/" + seg(t) }

func campaignPath(t, id string) string { return tenantPath(t) + "/campaigns/" + seg(id) }

func numberPath(t, n string) string { return tenantPath(t) + "/numbers/" + seg(n) }

func subscriberPath(t, phone string) string { return tenantPath(t) + "/subscribers/" + seg(phone) }

func tokenPath(t string) string { return tenantPath(t) + "/tokens" }

// Do sends method path with body (JSON-encoded when not nil) and headers
// (name, value pairs).
func (c *Client) Do(ctx context.Context, method, path string, body any, headers ...string) ([]byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, r)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] != "" {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err // names the method and URL, never the token
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &APIError{Status: resp.StatusCode}
		_ = json.Unmarshal(b, e) // a body that is not the error document: the status text
		return nil, e
	}
	return b, nil
}

// getJSON GETs path and decodes the answer into v; it returns the raw body
// too, for -o json.
func (c *Client) getJSON(ctx context.Context, path string, v any) ([]byte, error) {
	b, err := c.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	return b, decode(path, b, v)
}

func decode(what string, b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: unexpected answer: %w", what, err)
	}
	return nil
}

// isNotFound reports whether err is a 404 answer.
func isNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}
