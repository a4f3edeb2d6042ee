package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/internal/bizdays"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/security"
)

// ReasonHeader carries the "why" of a look at a subscriber's data, for the
// access log.
const ReasonHeader = "X-Optin-Reason"

// Limits of the access-log route.
const (
	defaultAccessLimit = 100
	maxAccessLimit     = 1000
	maxReasonLen       = 500
)

// recordAccess writes who (the request's principal) did action to
// subscriber (a pseudonym) and why (reason, else the X-Optin-Reason
// header) to the access log and the audit log. A request whose access
// cannot be recorded fails: nothing is shown unrecorded. Any route may
// call it.
func (s *Server) recordAccess(c echo.Context, action, subscriber, reason string) error {
	return s.recordAccessIn(c, c.Param("tenant"), action, subscriber, reason)
}

// recordAccessIn is recordAccess under tenant, for routes without a
// tenant in their path (the support console).
func (s *Server) recordAccessIn(c echo.Context, tenant, action, subscriber, reason string) error {
	return s.recordAccessEntry(c, optin.AccessEntry{Tenant: tenant, Action: action, Subscriber: subscriber, Reason: reason})
}

// recordAccessEntry is recordAccess of e, which names the tenant, the
// action and what it was about; the rest is filled in.
func (s *Server) recordAccessEntry(c echo.Context, e optin.AccessEntry) error {
	reason := e.Reason
	if s.opts.Services.Config == nil {
		return nil // static mode: no config store to record into
	}
	if reason == "" {
		reason = c.Request().Header.Get(ReasonHeader)
	}
	if len(reason) > maxReasonLen {
		reason = reason[:maxReasonLen]
	}
	id, err := randomHex(s.opts.Rand, 8)
	if err != nil {
		return err
	}
	p := who(c)
	e.ID, e.At, e.Actor, e.Role, e.Reason = "acc:"+id, s.opts.Now().UTC(), p.actor, p.roleName(), reason
	if err := s.opts.Services.Config.RecordAccess(c.Request().Context(), e); err != nil {
		return err
	}
	if e.Action != optin.AccessAudience { // counted with its members when it ends (consent.go)
		s.securityEvent(c, security.Event{Kind: e.Action, Tenant: e.Tenant, Subscriber: e.Subscriber, At: e.At})
	}
	return nil
}

func randomHex(r io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// handleHistoryGet returns a subscriber's latest events, newest first.
func (s *Server) handleHistoryGet(c echo.Context) error {
	_, events, err := s.lookupOf(c, optin.AccessHistory)
	if err != nil {
		return err
	}
	if events == nil {
		events = []optin.Event{}
	}
	return c.JSON(http.StatusOK, itemsView[optin.Event]{events})
}

// tenantCampaigns returns every campaign of tenant the gateway knows.
func (s *Server) tenantCampaigns(tenant string) []optin.Campaign {
	sn := s.snap()
	var out []optin.Campaign
	for _, id := range sn.tenants[tenant] {
		if d, ok := sn.set.Campaigns[tenant][id]; ok {
			out = append(out, d.Campaign())
			continue
		}
		for _, n := range sn.numbers {
			if n.Tenant != tenant {
				continue
			}
			if c, ok := n.Campaign(id); ok {
				out = append(out, *c)
				break
			}
			if i := slices.IndexFunc(n.Scope, func(c optin.Campaign) bool { return c.ID == id }); i >= 0 {
				out = append(out, n.Scope[i])
				break
			}
		}
	}
	return out
}

// revoke applies optin.Revoke to p under tenant for the campaigns of
// scope, again on a concurrent change.
func (s *Server) revoke(ctx context.Context, tenant string, p optin.Phone, scope []optin.Campaign, at time.Time, cause optin.Cause) error {
	id, err := randomHex(s.opts.Rand, 16)
	if err != nil {
		return err
	}
	in := optin.Inbound{Provider: "admin", MessageID: cause.Channel + ":" + id}
	ids := make([]string, len(scope))
	for i, c := range scope {
		ids[i] = c.ID
	}
	for range maxConflicts {
		sub, _, err := s.opts.Store.Load(ctx, tenant, p, ids, in)
		if err != nil {
			return err
		}
		dec := optin.Revoke(sub, tenant, scope, at, cause)
		_, _, err = s.opts.Store.Apply(ctx, sub, dec, in, []byte{})
		switch {
		case err == nil:
			s.metrics.observeTransitions(sub, dec)
			return nil
		case !errors.Is(err, optin.ErrConflict):
			return err
		}
	}
	return fmt.Errorf("gateway: revoke: %d conflicts in a row: %w", maxConflicts, optin.ErrConflict)
}

// handleOptOutPost opts a subscriber out by hand, with a reason: of one
// campaign, or of every campaign of the tenant.
func (s *Server) handleOptOutPost(c echo.Context) error {
	tenant, campaigns, p, err := s.subscriberOf(c)
	if err != nil {
		return err
	}
	var req struct {
		Campaign string `json:"campaign"`
		Reason   string `json:"reason"`
	}
	if _, err := decodeDoc(c, &req); err != nil {
		return err
	}
	if req.Reason == "" {
		req.Reason = c.Request().Header.Get(ReasonHeader)
	}
	view, err := s.optOut(c, tenant, campaigns, p, req.Campaign, req.Reason)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, view)
}

// optOut opts p out by hand under tenant, of campaign (all of the
// tenant's when empty), for reason (required), records the access and
// returns the new view. The admin API and the support console share it.
func (s *Server) optOut(c echo.Context, tenant string, campaigns []string, p optin.Phone, campaign, reason string) (subscriberView, error) {
	if strings.TrimSpace(reason) == "" {
		return subscriberView{}, &optin.FieldError{Field: "reason", Msg: "reason is required for an opt-out by hand"}
	}
	scope := s.tenantCampaigns(tenant)
	if campaign != "" {
		i := slices.IndexFunc(scope, func(c optin.Campaign) bool { return c.ID == campaign })
		if i < 0 {
			return subscriberView{}, &optin.FieldError{Field: "campaign", Msg: fmt.Sprintf("campaign %q is not a campaign of tenant %s", campaign, tenant)}
		}
		scope = scope[i : i+1]
	}
	now := s.opts.Now().UTC()
	cause := optin.Cause{Actor: who(c).actor, Channel: optin.ChannelSupport, Note: reason}
	if err := s.revoke(c.Request().Context(), tenant, p, scope, now, cause); err != nil {
		return subscriberView{}, err
	}
	logFields(c, zap.String("outcome", "opt_out_by_hand"))
	s.metrics.observeRevocationDelay(0, false)
	view, _, err := s.lookup(c, tenant, campaigns, p, "")
	if err != nil {
		return subscriberView{}, err
	}
	if err := s.recordAccessIn(c, tenant, optin.AccessOptOut, view.Subscriber, reason); err != nil {
		return subscriberView{}, err
	}
	return view, nil
}

// revocationAnswer is the answer to a recorded revocation.
type revocationAnswer struct {
	AppliedAt    time.Time `json:"applied_at"`
	RevokedAt    time.Time `json:"revoked_at"`
	BusinessDays int       `json:"business_days"`
	Late         bool      `json:"late"`
	subscriberView
}

// handleRevocationPost records a revocation that reached the business
// through another channel: applied at once to every campaign of the
// tenant, with the US business days since the person revoked; more than
// bizdays.Limit is logged as a compliance breach.
func (s *Server) handleRevocationPost(c echo.Context) error {
	tenant, campaigns, p, err := s.subscriberOf(c)
	if err != nil {
		return err
	}
	var req struct {
		Channel   string `json:"channel"`
		RevokedAt string `json:"revoked_at"`
		Note      string `json:"note"`
	}
	if _, err := decodeDoc(c, &req); err != nil {
		return err
	}
	now := s.opts.Now().UTC()
	if !slices.Contains(optin.RevocationChannels, req.Channel) {
		return &optin.FieldError{Field: "channel", Msg: "channel must be one of " + strings.Join(optin.RevocationChannels, ", ")}
	}
	revokedAt, err := time.Parse(time.RFC3339, req.RevokedAt)
	switch {
	case err != nil:
		return &optin.FieldError{Field: "revoked_at", Msg: "revoked_at must be an RFC 3339 time, e.g. 2026-11-16T09:30:00-05:00"}
	case revokedAt.After(now.Add(time.Minute)):
		return &optin.FieldError{Field: "revoked_at", Msg: "revoked_at is in the future"}
	case len(req.Note) > maxReasonLen:
		return &optin.FieldError{Field: "note", Msg: fmt.Sprintf("note is longer than %d bytes", maxReasonLen)}
	}
	revokedAt = revokedAt.UTC()
	days := bizdays.Between(revokedAt, now)
	late := days > bizdays.Limit
	cause := optin.Cause{Actor: who(c).actor, Channel: req.Channel, Note: req.Note, RevokedAt: &revokedAt}
	if err := s.revoke(c.Request().Context(), tenant, p, s.tenantCampaigns(tenant), now, cause); err != nil {
		return err
	}
	s.metrics.observeRevocationDelay(days, late)
	logFields(c, zap.String("outcome", "revocation_by_hand"), zap.String("channel", req.Channel), zap.Int("business_days", days))
	if late {
		logFields(c, zap.String("compliance_breach", "revocation applied after "+strconv.Itoa(days)+" business days"))
		s.log.Warn("compliance breach: revocation applied late",
			zap.String("tenant", tenant), zap.Stringer("phone", p), zap.String("channel", req.Channel),
			zap.Int("business_days", days), zap.Int("limit", bizdays.Limit))
	}
	view, _, err := s.lookup(c, tenant, campaigns, p, "")
	if err != nil {
		return err
	}
	if err := s.recordAccess(c, optin.AccessRevocation, view.Subscriber, req.Note); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, revocationAnswer{AppliedAt: now, RevokedAt: revokedAt, BusinessDays: days, Late: late, subscriberView: view})
}

// handleAuditVerifyGet verifies the audit log's hash chain.
func (s *Server) handleAuditVerifyGet(c echo.Context) error {
	if _, ok := s.snap().tenants[c.Param("tenant")]; !ok || s.opts.Services.Audit == nil {
		return optin.ErrNotFound
	}
	st, err := s.opts.Services.Audit.Check(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

// handleAccessLogGet lists the tenant's access entries, newest first:
// ?since=RFC3339 and ?limit (default 100, at most 1000).
func (s *Server) handleAccessLogGet(c echo.Context) error {
	tenant := c.Param("tenant")
	if _, ok := s.snap().tenants[tenant]; !ok || s.opts.Services.Config == nil {
		return optin.ErrNotFound
	}
	var since time.Time
	if v := c.QueryParam("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return &optin.FieldError{Field: "since", Msg: "since must be an RFC 3339 time"}
		}
		since = t
	}
	limit, err := queryLimit(c, defaultAccessLimit, maxAccessLimit)
	if err != nil {
		return err
	}
	items, err := s.opts.Services.Config.AccessLog(c.Request().Context(), tenant, since, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, itemsView[optin.AccessEntry]{items})
}
