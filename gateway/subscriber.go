package gateway

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/internal/bizdays"
	"github.com/optin-gateway/optin-gateway/internal/phone"
	"github.com/optin-gateway/optin-gateway/optin"
)

// subscriberView is the support view of one subscriber.
type subscriberView struct {
	Tenant      string         `json:"tenant"`
	Subscriber  string         `json:"subscriber"` // pseudonym
	PhoneMasked string         `json:"phone_masked"`
	Version     int64          `json:"version"`
	Campaigns   []campaignView `json:"campaigns"`
	// Revocations are the latest revocations by hand or from other
	// channels, newest first, with the business days they took.
	Revocations []revocationView `json:"revocations"`
}

// revocationView is a revocation recorded by hand, and how late it was.
type revocationView struct {
	Channel      string    `json:"channel"`
	Campaigns    []string  `json:"campaigns"`
	RevokedAt    time.Time `json:"revoked_at"`
	AppliedAt    time.Time `json:"applied_at"`
	BusinessDays int       `json:"business_days"`
	Late         bool      `json:"late"` // more than bizdays.Limit business days
	Actor        string    `json:"actor"`
}

type campaignView struct {
	Campaign  string        `json:"campaign"`
	State     optin.State   `json:"state"`
	ChangedAt *time.Time    `json:"changed_at"` // null while never changed
	History   []optin.Event `json:"history"`    // newest first
}

// handleSubscriberGet returns one subscriber's state per campaign of the
// tenant and the latest transitions. The phone number is E.164 in the
// path, its "+" literal or escaped as %2B.
func (s *Server) handleSubscriberGet(c echo.Context) error {
	view, _, err := s.lookupOf(c, optin.AccessLookup)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, view)
}

// lookupOf looks up the subscriber of the path (see lookup).
func (s *Server) lookupOf(c echo.Context, action string) (subscriberView, []optin.Event, error) {
	tenant, campaigns, p, err := s.subscriberOf(c)
	if err != nil {
		return subscriberView{}, nil, err
	}
	return s.lookup(c, tenant, campaigns, p, action)
}

// subscriberOf reads the tenant and phone of a subscriber route.
func (s *Server) subscriberOf(c echo.Context) (string, []string, optin.Phone, error) {
	tenant := c.Param("tenant")
	campaigns, ok := s.snap().tenants[tenant]
	if !ok {
		return "", nil, "", optin.ErrNotFound
	}
	p, err := phoneParam(c)
	if err != nil {
		return "", nil, "", err
	}
	logFields(c, zap.String("tenant", tenant), zap.Stringer("phone", p))
	return tenant, campaigns, p, nil
}

// lookup records the access (action, unless empty) and returns the
// support view of p and its events, newest first.
func (s *Server) lookup(c echo.Context, tenant string, campaigns []string, p optin.Phone, action string) (subscriberView, []optin.Event, error) {
	ctx := c.Request().Context()
	sub, events, err := s.opts.Store.Lookup(ctx, tenant, p)
	if err != nil {
		return subscriberView{}, nil, err
	}
	if action != "" {
		if err := s.recordAccess(c, action, sub.ID, ""); err != nil {
			return subscriberView{}, nil, err
		}
	}
	view := subscriberView{Tenant: tenant, Subscriber: sub.ID, PhoneMasked: maskPhone(p), Version: sub.Version,
		Campaigns: make([]campaignView, 0, len(campaigns)), Revocations: revocations(events)}
	for _, id := range campaigns {
		e := sub.Enrollment(id)
		cv := campaignView{Campaign: id, State: e.State, History: []optin.Event{}}
		if !e.Since.IsZero() {
			cv.ChangedAt = &e.Since
		}
		for _, ev := range events {
			if ev.Campaign == id {
				cv.History = append(cv.History, ev)
			}
		}
		view.Campaigns = append(view.Campaigns, cv)
	}
	return view, events, nil
}

// maskPhone shows the country code and area code and the last four
// digits of a NANP number ("+1202•••0100"), else Phone's own mask.
func maskPhone(p optin.Phone) string {
	e := p.E164()
	if len(e) == 12 && strings.HasPrefix(e, "+1") {
		return e[:5] + "•••" + e[8:]
	}
	return p.String()
}

// revocations gathers the revocations by hand among events (newest
// first): one per application, with the campaigns it covered.
func revocations(events []optin.Event) []revocationView {
	out := []revocationView{}
	for _, ev := range events {
		if ev.Cause.Channel == "" {
			continue
		}
		if n := len(out); n > 0 && out[n-1].AppliedAt.Equal(ev.At) && out[n-1].Channel == ev.Cause.Channel {
			out[n-1].Campaigns = append(out[n-1].Campaigns, ev.Campaign)
			continue
		}
		rv := revocationView{Channel: ev.Cause.Channel, Campaigns: []string{ev.Campaign}, RevokedAt: ev.At, AppliedAt: ev.At, Actor: ev.Cause.Actor}
		if ev.Cause.RevokedAt != nil {
			rv.RevokedAt = *ev.Cause.RevokedAt
		}
		rv.BusinessDays = bizdays.Between(rv.RevokedAt, rv.AppliedAt)
		rv.Late = rv.BusinessDays > bizdays.Limit
		out = append(out, rv)
	}
	return out
}

// phoneParam parses the :phone path parameter.
func phoneParam(c echo.Context) (optin.Phone, error) {
	return pathPhone(c, "phone", phone.Parse)
}

// pathPhone parses path parameter name with parse, its "+" literal or
// escaped as %2B.
func pathPhone(c echo.Context, name string, parse func(string) (optin.Phone, error)) (optin.Phone, error) {
	raw, err := url.PathUnescape(c.Param(name))
	if err != nil {
		return "", badRequest{name + ": malformed escape"}
	}
	p, err := parse(raw)
	if err != nil {
		return "", badRequest{name + ": " + err.Error()}
	}
	return p, nil
}
