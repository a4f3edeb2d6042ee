package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/events"
	"github.com/optin-gateway/optin-gateway/optin"
)

// Webhooks is what the event webhook routes need of the store (README
// "Event webhooks"); the endpoints themselves are configuration documents
// of the ConfigStore (optin.ObjectWebhook).
type Webhooks interface {
	// SealSecret seals an endpoint's signing secret for its document.
	SealSecret(tenant, id, secret string) (string, error)
	// List returns a tenant's endpoints, by id.
	List(ctx context.Context, tenant string) ([]optin.WebhookDoc, error)
	// DeadLetters returns an endpoint's dead letters, newest first.
	DeadLetters(ctx context.Context, tenant, id string, limit int) ([]optin.WebhookDeadLetter, error)
	// Replay queues again for an endpoint the tenant's events since a time.
	Replay(ctx context.Context, tenant, id string, since time.Time) (int, error)
}

// Limits of the dead-letter route.
const (
	defaultDeadLetterLimit = 100
	maxDeadLetterLimit     = 1000
)

// needWebhooks answers 404 where the event webhooks are not served.
func (s *Server) needWebhooks(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.opts.Services.Config == nil || s.opts.Services.Webhooks == nil {
			return optin.ErrNotFound
		}
		return next(c)
	}
}

// webhookView is an endpoint as answered: never its sealed secret; the
// secret in clear only in the answer to its creation.
type webhookView struct {
	optin.WebhookDoc
	Secret string `json:"secret,omitempty"`
}

func publicWebhook(d optin.WebhookDoc) webhookView {
	d.Secret = ""
	if d.Events == nil {
		d.Events = []optin.EventType{}
	}
	return webhookView{WebhookDoc: d}
}

// webhookRef names endpoint id of tenant.
func webhookRef(tenant, id string) optin.ConfigRef {
	return optin.ConfigRef{Object: optin.ObjectWebhook, Tenant: tenant, ID: id}
}

// webhookOf returns the stored endpoint of the path and its JSON.
func (s *Server) webhookOf(c echo.Context) (optin.WebhookDoc, []byte, error) {
	var d optin.WebhookDoc
	t, err := s.tenantOf(c)
	if err != nil {
		return d, nil, err
	}
	raw, err := s.opts.Services.Config.ConfigGet(c.Request().Context(), webhookRef(t.ID, c.Param("id")))
	if err != nil {
		return d, nil, err
	}
	return d, raw, json.Unmarshal(raw, &d)
}

// handleWebhookList lists the tenant's endpoints.
func (s *Server) handleWebhookList(c echo.Context) error {
	t, err := s.tenantOf(c)
	if err != nil {
		return err
	}
	docs, err := s.opts.Services.Webhooks.List(c.Request().Context(), t.ID)
	if err != nil {
		return err
	}
	items := make([]webhookView, 0, len(docs))
	for _, d := range docs {
		items = append(items, publicWebhook(d))
	}
	return c.JSON(http.StatusOK, itemsView[webhookView]{items})
}

// handleWebhookGet returns one endpoint, without its secret.
func (s *Server) handleWebhookGet(c echo.Context) error {
	d, _, err := s.webhookOf(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, publicWebhook(d))
}

// handleWebhookPut creates an endpoint (201, with its signing secret, the
// only time it is shown) or replaces its url and events (200; the secret
// stays). The URL must pass the egress policy (Options.Services.Egress: a public
// address, or one the operator allows; 400 naming the field url).
// Versioned and audited like every configuration document; the
// audit record never holds the secret, sealed or not.
func (s *Server) handleWebhookPut(c echo.Context) error {
	t, err := s.tenantOf(c)
	if err != nil {
		return err
	}
	id := c.Param("id")
	var req struct {
		ID     string            `json:"id"`
		URL    string            `json:"url"`
		Events []optin.EventType `json:"events"`
		optin.Meta
	}
	version, err := decodeDoc(c, &req)
	if err != nil {
		return err
	}
	if err := samePathID("webhook", req.ID, id); err != nil {
		return err
	}
	next := optin.WebhookDoc{ID: id, Tenant: t.ID, URL: req.URL, Events: req.Events}
	if next.Events == nil {
		next.Events = []optin.EventType{}
	}
	slices.Sort(next.Events)
	next.Events = slices.Compact(next.Events)
	if err := next.Validate(); err != nil {
		return err
	}
	if err := s.opts.Services.Egress.CheckURL(next.URL); err != nil {
		s.security(c, "egress_refused")
		return &optin.FieldError{Field: "url", Msg: "url " + err.Error()}
	}
	ref := webhookRef(t.ID, id)
	var prev optin.WebhookDoc
	p, err := s.planPut(c, ref, next, version, func(raw []byte) (map[string]any, int, error) {
		if err := json.Unmarshal(raw, &prev); err != nil {
			return nil, 0, err
		}
		m, err := docMap(publicWebhook(prev).WebhookDoc)
		return m, prev.Version, err
	})
	if err != nil || p.answered {
		return err
	}
	prevRaw, action := p.prevRaw, p.action
	if action == "unchanged" {
		return c.JSON(http.StatusOK, publicWebhook(prev))
	}
	secret := ""
	next.Secret = prev.Secret
	if action == "create" {
		if secret, err = events.NewSecret(s.opts.Rand); err != nil {
			return err
		}
		if next.Secret, err = s.opts.Services.Webhooks.SealSecret(t.ID, id, secret); err != nil {
			return err
		}
	}
	next.Meta = optin.Meta{Version: prev.Version + 1, UpdatedAt: s.opts.Now().UTC(), UpdatedBy: who(c).actor}
	raw, err := json.Marshal(next)
	if err != nil {
		return err
	}
	public, err := json.Marshal(publicWebhook(next))
	if err != nil {
		return err
	}
	if err := s.commitDoc(c, ref, prevRaw, raw, public, action, next.Version); err != nil {
		return err
	}
	logFields(c, zap.String("webhook", id))
	if action == "create" {
		v := publicWebhook(next)
		v.Secret = secret
		return c.JSON(http.StatusCreated, v)
	}
	return c.JSON(http.StatusOK, publicWebhook(next))
}

// handleWebhookDelete deletes an endpoint: deliveries still queued for it
// are dropped.
func (s *Server) handleWebhookDelete(c echo.Context) error {
	d, prevRaw, err := s.webhookOf(c)
	if err != nil {
		return err
	}
	if isDryRun(c) {
		prev, err := docMap(publicWebhook(d).WebhookDoc)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, dryRunView{DryRun: true, Action: "delete", Changes: diff(prev, map[string]any{})})
	}
	if err := s.commitDoc(c, webhookRef(d.Tenant, d.ID), prevRaw, nil, nil, "delete", d.Version+1); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// handleWebhookDeadLetters lists an endpoint's dead letters, newest
// first; ?limit (default 100, at most 1000).
func (s *Server) handleWebhookDeadLetters(c echo.Context) error {
	d, _, err := s.webhookOf(c)
	if err != nil {
		return err
	}
	limit, err := queryLimit(c, defaultDeadLetterLimit, maxDeadLetterLimit)
	if err != nil {
		return err
	}
	items, err := s.opts.Services.Webhooks.DeadLetters(c.Request().Context(), d.Tenant, d.ID, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, itemsView[optin.WebhookDeadLetter]{items})
}

// handleWebhookReplay queues again, for the endpoint, the tenant's events
// since a time (body {"since": RFC3339}) from the audit log: 202
// {"queued": n}.
func (s *Server) handleWebhookReplay(c echo.Context) error {
	d, _, err := s.webhookOf(c)
	if err != nil {
		return err
	}
	var req struct {
		Since string `json:"since"`
	}
	if _, err := decodeDoc(c, &req); err != nil {
		return err
	}
	since, err := time.Parse(time.RFC3339Nano, req.Since)
	if err != nil {
		return &optin.FieldError{Field: "since", Msg: "since must be an RFC 3339 time"}
	}
	n, err := s.opts.Services.Webhooks.Replay(c.Request().Context(), d.Tenant, d.ID, since)
	if err != nil {
		return err
	}
	logFields(c, zap.String("webhook", d.ID), zap.Int("replayed", n))
	return c.JSON(http.StatusAccepted, map[string]int{"queued": n})
}
