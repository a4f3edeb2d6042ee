package gateway

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/optin"
)

// Auditor is what the gateway needs of the durable audit log.
type Auditor interface {
	// Evidence returns the consent record of phone under tenant, checked
	// against the verified hash chain.
	Evidence(ctx context.Context, tenant string, phone optin.Phone) (optin.Evidence, error)
	// Check verifies the whole hash chain; a broken chain is a status,
	// not an error.
	Check(ctx context.Context) (optin.ChainStatus, error)
}

// handleEvidenceGet returns one subscriber's full consent timeline: every
// archived record with its hash and the chain's head, and the events not
// archived yet.
func (s *Server) handleEvidenceGet(c echo.Context) error {
	tenant := c.Param("tenant")
	if _, ok := s.snap().tenants[tenant]; !ok || s.opts.Services.Audit == nil {
		return optin.ErrNotFound
	}
	p, err := phoneParam(c)
	if err != nil {
		return err
	}
	logFields(c, zap.String("tenant", tenant), zap.Stringer("phone", p))
	ev, err := s.opts.Services.Audit.Evidence(c.Request().Context(), tenant, p)
	if err != nil {
		return err
	}
	if err := s.recordAccess(c, optin.AccessEvidence, ev.Subscriber, ""); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ev)
}
