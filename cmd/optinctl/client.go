package main

// client.go is the one place that knows the admin API's wire format
// (routes under /v1, JSON both ways, a bearer token): its paths, its
// envelopes and its error document. The configuration documents are
// optin's (optin.TenantDoc, CampaignDoc, NumberDoc), as the server's are.

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
)

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
