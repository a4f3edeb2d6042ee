package gateway

import (
	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/security"
)

// SecuritySink takes the gateway's security events and counts consent
// checks (a *security.Sink).
type SecuritySink interface {
	Record(security.Event)
	ConsentCheck(tenant, actor, role string, n int)
}

// security records a security event of kind about c: in the access log
// line, the metrics and the security stream.
func (s *Server) security(c echo.Context, kind string) {
	logFields(c, zap.String("security_event", kind))
	s.securityEvent(c, security.Event{Kind: kind})
}

// securityEvent counts e and hands it to the sink, filling in what c
// tells: the tenant of the path, the principal, the client and the route
// pattern (never the path, which may hold a number).
func (s *Server) securityEvent(c echo.Context, e security.Event) {
	s.metrics.observeSecurityEvent(e.Kind)
	if s.opts.Services.Security == nil {
		return
	}
	if e.Tenant == "" {
		e.Tenant = c.Param("tenant")
	}
	if p := who(c); p.actor != "" && e.Actor == "" {
		e.Actor, e.Role = p.actor, string(p.roleName())
	}
	e.Source, e.Route = c.RealIP(), c.Path()
	s.opts.Services.Security.Record(e)
}

// consentChecked counts n consent checks by c's principal under tenant.
func (s *Server) consentChecked(c echo.Context, tenant string, n int) {
	if s.opts.Services.Security == nil {
		return
	}
	p := who(c)
	s.opts.Services.Security.ConsentCheck(tenant, p.actor, string(p.roleName()), n)
}

// signatureFailure records a webhook of provider refused for its signature.
func (s *Server) signatureFailure(c echo.Context, provider string) {
	logFields(c, zap.String("security_event", security.KindBadSignature))
	s.securityEvent(c, security.Event{Kind: security.KindBadSignature, Provider: provider})
}
