package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/optin"
)

// Privacy is what the gateway needs to answer a person's requests about
// their data (GDPR Art. 15, 17, 20).
type Privacy interface {
	// Export returns everything tenant holds about phone, with the live
	// codes of campaigns.
	Export(ctx context.Context, tenant string, phone optin.Phone, campaigns []string, now time.Time) (optin.Export, error)
	// Erase crypto-shreds phone's data under tenant and records an
	// "erased" event by actor; it reports whether anything was held.
	Erase(ctx context.Context, tenant string, phone optin.Phone, campaigns []string, actor string, at time.Time) (bool, error)
	// Pseudonym returns the pseudonym of phone under tenant.
	Pseudonym(tenant string, phone optin.Phone) string
}

// handleSubscriberExport returns one JSON document with everything held
// about one person (Art. 15 access, Art. 20 portability): see the README's
// "Data we keep".
func (s *Server) handleSubscriberExport(c echo.Context) error {
	tenant, campaigns, p, err := s.privacyParams(c)
	if err != nil {
		return err
	}
	doc, err := s.opts.Services.Privacy.Export(c.Request().Context(), tenant, p, campaigns, s.opts.Now())
	if err != nil {
		return err
	}
	// Nothing is shown unrecorded: a failed record fails the request.
	if err := s.recordAccess(c, optin.AccessExport, doc.Subscriber, ""); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, doc)
}

// handleSubscriberDelete erases one person (Art. 17) by crypto-shredding:
// their data key, state, codes and history are destroyed, an "erased"
// event is recorded, and their old records can no longer be decrypted.
func (s *Server) handleSubscriberDelete(c echo.Context) error {
	tenant, campaigns, p, err := s.privacyParams(c)
	if err != nil {
		return err
	}
	// The access log names the pseudonym the erasure is about; it is
	// recorded first, so that no erasure goes unrecorded.
	if err := s.recordAccess(c, optin.AccessErase, s.opts.Services.Privacy.Pseudonym(tenant, p), ""); err != nil {
		return err
	}
	held, err := s.opts.Services.Privacy.Erase(c.Request().Context(), tenant, p, campaigns, who(c).actor, s.opts.Now())
	if err != nil {
		return err
	}
	logFields(c, zap.Bool("held", held))
	return c.JSON(http.StatusOK, map[string]bool{"erased": true})
}

// privacyParams are the tenant, its campaigns and the number of a privacy
// route; not found when the tenant is unknown or no Privacy is configured.
func (s *Server) privacyParams(c echo.Context) (string, []string, optin.Phone, error) {
	if s.opts.Services.Privacy == nil {
		return "", nil, "", optin.ErrNotFound
	}
	return s.subscriberOf(c)
}
