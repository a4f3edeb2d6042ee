package gateway

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/internal/phone"
	"github.com/optin-gateway/optin-gateway/optin"
)

// requireAdmin lets a request through only with the operator's bearer
// token; the comparison takes the same time whatever the token.
func (s *Server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		got := []byte(c.Request().Header.Get(echo.HeaderAuthorization))
		if subtle.ConstantTimeCompare(got, s.adminAuth) != 1 {
			logFields(c, zap.String("security_event", "bad_admin_token"))
			return errUnauthorized
		}
		logFields(c, zap.String("actor", "operator"))
		return next(c)
	}
}

// subscriberView is the support view of one subscriber.
type subscriberView struct {
	Tenant     string         `json:"tenant"`
	Subscriber string         `json:"subscriber"` // pseudonym
	Version    int64          `json:"version"`
	Campaigns  []campaignView `json:"campaigns"`
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
	tenant := c.Param("tenant")
	campaigns, ok := s.tenants[tenant]
	if !ok {
		return optin.ErrNotFound
	}
	p, err := phoneParam(c)
	if err != nil {
		return err
	}
	logFields(c, zap.String("tenant", tenant), zap.Stringer("phone", p))
	sub, events, err := s.opts.Store.Lookup(c.Request().Context(), tenant, p)
	if err != nil {
		return err
	}
	view := subscriberView{Tenant: tenant, Subscriber: sub.ID, Version: sub.Version, Campaigns: make([]campaignView, 0, len(campaigns))}
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
	return c.JSON(http.StatusOK, view)
}

// phoneParam parses the :phone path parameter.
func phoneParam(c echo.Context) (optin.Phone, error) {
	raw, err := url.PathUnescape(c.Param("phone"))
	if err != nil {
		return "", badRequest{"phone: malformed escape"}
	}
	p, err := phone.Parse(raw)
	if err != nil {
		return "", badRequest{"phone: " + err.Error()}
	}
	return p, nil
}
