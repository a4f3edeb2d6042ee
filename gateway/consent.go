package gateway

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/internal/phone"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/security"
)

// Consent is what the gateway needs of the store for the businesses'
// sending systems: consent checks and audience exports.
type Consent interface {
	// Consent returns the standing of each of phones under tenant, in
	// order, in one round trip.
	Consent(ctx context.Context, tenant string, phones []optin.Phone) ([]optin.Standing, error)
	// Audience calls fn with every subscriber of campaign after the
	// pseudonym after, batch at a time, in bounded memory.
	Audience(ctx context.Context, tenant, campaign, after string, batch int, fn func(optin.AudienceMember) error) (optin.AudienceStats, error)
}

// Limits of the consent routes.
const (
	// MaxConsentBatch is how many numbers one bulk consent check may hold.
	MaxConsentBatch = 1000
	// audienceFlushEvery is how many rows an audience export writes
	// between two flushes to the client.
	audienceFlushEvery = 500
	// audiencePath is the audience export's route, which the request
	// timeout leaves alone (an export takes as long as it takes).
	audiencePath = "/v1/tenants/:tenant/campaigns/:campaign/subscribers"
	// AudienceEndTrailer is the HTTP trailer a complete audience export
	// ends with: "count=N; without_number=K".
	AudienceEndTrailer = "Optin-Export-End"
)

// consentOne is the answer for one number and one campaign.
type consentOne struct {
	Phone      string `json:"phone,omitempty"` // bulk only: as given
	Subscriber string `json:"subscriber"`      // pseudonym
	optin.Consent
}

// consentAll is the answer for one number and every campaign.
type consentAll struct {
	Phone      string          `json:"phone,omitempty"` // bulk only: as given
	Subscriber string          `json:"subscriber"`
	Campaigns  []optin.Consent `json:"campaigns"`
}

// consentBad is a number of a bulk check that could not be read.
type consentBad struct {
	Phone   string `json:"phone"`
	Allowed bool   `json:"allowed"` // always false
	Error   string `json:"error"`
}

// consentCampaign checks the campaign of a consent check: empty (every
// campaign) or one of tenant's.
func consentCampaign(campaigns []string, tenant, campaign string) error {
	if campaign != "" && !slices.Contains(campaigns, campaign) {
		return &optin.FieldError{Field: "campaign", Msg: fmt.Sprintf("campaign %q is not a campaign of tenant %s", campaign, tenant)}
	}
	return nil
}

// consentAnswer is the answer for one standing.
func consentAnswer(st optin.Standing, given string, campaigns []string, campaign string) any {
	if campaign != "" {
		return consentOne{Phone: given, Subscriber: st.Subscriber, Consent: st.Consent(campaign)}
	}
	all := consentAll{Phone: given, Subscriber: st.Subscriber, Campaigns: make([]optin.Consent, 0, len(campaigns))}
	for _, id := range campaigns {
		all.Campaigns = append(all.Campaigns, st.Consent(id))
	}
	return all
}

// consentTenant returns the tenant of a consent route and its campaigns.
func (s *Server) consentTenant(c echo.Context) (string, []string, error) {
	tenant := c.Param("tenant")
	campaigns, ok := s.snap().tenants[tenant]
	if !ok || s.opts.Services.Consent == nil {
		return "", nil, optin.ErrNotFound
	}
	return tenant, campaigns, nil
}

// handleConsentGet answers whether one number may be sent to:
// ?phone=E.164 (its "+" literal or %2B) and ?campaign (every campaign of
// the tenant when left out). Allowed only in state subscribed.
func (s *Server) handleConsentGet(c echo.Context) error {
	tenant, campaigns, err := s.consentTenant(c)
	if err != nil {
		return err
	}
	raw := c.QueryParam("phone")
	if raw == "" {
		return &optin.FieldError{Field: "phone", Msg: "phone is required: a number in E.164 form, its + escaped as %2B"}
	}
	if strings.HasPrefix(raw, " ") {
		raw = "+" + strings.TrimLeft(raw, " ") // a literal "+" read as a space
	}
	p, err := phone.Parse(raw)
	if err != nil {
		return &optin.FieldError{Field: "phone", Msg: "phone: " + err.Error()}
	}
	campaign := c.QueryParam("campaign")
	if err := consentCampaign(campaigns, tenant, campaign); err != nil {
		return err
	}
	logFields(c, zap.String("tenant", tenant), zap.Stringer("phone", p))
	st, err := s.opts.Services.Consent.Consent(c.Request().Context(), tenant, []optin.Phone{p})
	if err != nil {
		return err
	}
	s.consentChecked(c, tenant, 1)
	return c.JSON(http.StatusOK, consentAnswer(st[0], "", campaigns, campaign))
}

// handleConsentCheckPost answers a consent check of up to MaxConsentBatch
// numbers in one round trip to the store: body {"phones": [...],
// "campaign"?}, answer {"items": [...]} in the order of phones. A number
// that cannot be read gets {"phone", "allowed": false, "error"} in its
// place; the others are answered.
func (s *Server) handleConsentCheckPost(c echo.Context) error {
	tenant, campaigns, err := s.consentTenant(c)
	if err != nil {
		return err
	}
	var req struct {
		Phones   []string `json:"phones"`
		Campaign string   `json:"campaign"`
	}
	if _, err := decodeDoc(c, &req); err != nil {
		return err
	}
	switch {
	case len(req.Phones) == 0:
		return &optin.FieldError{Field: "phones", Msg: "phones is required: a list of 1 to " + strconv.Itoa(MaxConsentBatch) + " numbers"}
	case len(req.Phones) > MaxConsentBatch:
		return &optin.FieldError{Field: "phones", Msg: fmt.Sprintf("phones holds %d numbers; at most %d a request", len(req.Phones), MaxConsentBatch)}
	}
	if err := consentCampaign(campaigns, tenant, req.Campaign); err != nil {
		return err
	}
	items := make([]any, len(req.Phones))
	valid := make([]optin.Phone, 0, len(req.Phones))
	at := make([]int, 0, len(req.Phones))
	for i, raw := range req.Phones {
		p, err := phone.Parse(raw)
		if err != nil {
			items[i] = consentBad{Phone: raw, Error: "phone: " + err.Error()}
			continue
		}
		valid = append(valid, p)
		at = append(at, i)
	}
	st, err := s.opts.Services.Consent.Consent(c.Request().Context(), tenant, valid)
	if err != nil {
		return err
	}
	s.consentChecked(c, tenant, len(valid))
	for j, i := range at {
		items[i] = consentAnswer(st[j], req.Phones[i], campaigns, req.Campaign)
	}
	logFields(c, zap.String("tenant", tenant), zap.Int("checked", len(valid)), zap.Int("invalid", len(req.Phones)-len(valid)))
	return c.JSON(http.StatusOK, itemsView[any]{items})
}

// audienceLine is one member of an NDJSON audience export; Subscriber is
// the cursor to resume after it.
type audienceLine struct {
	Phone      string    `json:"phone"`
	Subscriber string    `json:"subscriber"`
	Since      time.Time `json:"since"`
	Evidence   string    `json:"evidence,omitempty"`
}

// audienceEnd is the last line of a complete NDJSON export.
type audienceEnd struct {
	End           bool `json:"end"`
	Count         int  `json:"count"`
	WithoutNumber int  `json:"without_number"`
}

// audienceCSVHeader are the columns of a CSV audience export.
var audienceCSVHeader = []string{"phone", "subscriber", "since", "evidence"}

// isPseudonym reports whether s has the form of a pseudonym: 32 lower
// case hex digits.
func isPseudonym(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// handleAudienceGet streams the numbers subscribed to a campaign: NDJSON
// (default) or CSV (?format=csv or Accept: text/csv), from after
// ?cursor (the subscriber of the last line or row received), flushed as
// it goes, in bounded memory. Every export is recorded in the access log
// before anything is sent.
func (s *Server) handleAudienceGet(c echo.Context) error {
	tenant, campaigns, err := s.consentTenant(c)
	if err != nil {
		return err
	}
	campaign := c.Param("campaign")
	if !slices.Contains(campaigns, campaign) {
		return optin.ErrNotFound
	}
	format := c.QueryParam("format")
	switch {
	case format == "" && strings.Contains(c.Request().Header.Get(echo.HeaderAccept), "text/csv"):
		format = "csv"
	case format == "":
		format = "ndjson"
	case format != "csv" && format != "ndjson":
		return &optin.FieldError{Field: "format", Msg: "format must be ndjson or csv"}
	}
	cursor := c.QueryParam("cursor")
	if cursor != "" && !isPseudonym(cursor) {
		return &optin.FieldError{Field: "cursor", Msg: "cursor must be the subscriber of the last line received (32 hex digits)"}
	}
	if err := s.recordAccessEntry(c, optin.AccessEntry{Tenant: tenant, Action: optin.AccessAudience, Campaign: campaign}); err != nil {
		return err
	}
	logFields(c, zap.String("tenant", tenant), zap.String("campaign", campaign), zap.String("format", format), zap.Bool("resumed", cursor != ""))

	res := c.Response()
	sw := s.streamWriter(c) // each chunk has the write timeout anew
	bw := bufio.NewWriterSize(sw, 32<<10)
	enc := json.NewEncoder(bw)
	var cw *csv.Writer
	// The status goes out with the first member (or the end), so that a
	// store that fails at once still gets its 503.
	started := false
	start := func() {
		if started {
			return
		}
		started = true
		h := res.Header()
		if format == "csv" {
			h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
		} else {
			h.Set(echo.HeaderContentType, "application/x-ndjson")
		}
		h.Set("Cache-Control", "no-store")
		h.Set("Trailer", AudienceEndTrailer)
		res.WriteHeader(http.StatusOK)
		if format == "csv" {
			cw = csv.NewWriter(bw)
			_ = cw.Write(audienceCSVHeader)
		}
	}
	rows := 0
	flush := func() error {
		if cw != nil {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		sw.Flush()
		return nil
	}
	stats, err := s.opts.Services.Consent.Audience(c.Request().Context(), tenant, campaign, cursor, 0, func(m optin.AudienceMember) error {
		start()
		since := m.Since.UTC()
		var err error
		if cw != nil {
			err = cw.Write([]string{m.Phone.E164(), m.Subscriber, since.Format(time.RFC3339Nano), m.Event})
		} else {
			err = enc.Encode(audienceLine{Phone: m.Phone.E164(), Subscriber: m.Subscriber, Since: since, Evidence: m.Event})
		}
		if err != nil {
			return err
		}
		if rows++; rows%audienceFlushEvery == 0 {
			return flush()
		}
		return nil
	})
	logFields(c, zap.Int("exported", stats.Members), zap.Int("without_number", stats.WithoutNumber))
	s.securityEvent(c, security.Event{Kind: security.KindAudience, Tenant: tenant, Target: campaign, Count: stats.Members})
	if err != nil && !started {
		return err
	}
	if err != nil {
		// The status is sent: the missing end (line and trailer) tells the
		// client to resume from its last line.
		_ = flush()
		logFields(c, zap.NamedError("export_error", err))
		return nil
	}
	start()
	if cw == nil {
		_ = enc.Encode(audienceEnd{End: true, Count: stats.Members, WithoutNumber: stats.WithoutNumber})
	}
	if err := flush(); err != nil {
		logFields(c, zap.NamedError("export_error", err))
		return nil
	}
	res.Header().Set(AudienceEndTrailer, fmt.Sprintf("count=%d; without_number=%d", stats.Members, stats.WithoutNumber))
	return nil
}
