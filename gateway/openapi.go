package gateway

import (
	_ "embed"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
)

// OpenAPI is the OpenAPI 3 document of the admin API, served at
// /v1/openapi.json; a test keeps it and the registered routes equal.
//
//go:embed openapi.json
var OpenAPI []byte

// handleOpenAPIGet serves the OpenAPI document (no authentication).
func (s *Server) handleOpenAPIGet(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, OpenAPI)
}

// ipExtractor returns the client IP of a request: the socket peer, or,
// behind one of the trusted proxies, the first address of X-Forwarded-For
// that is not one of them.
func ipExtractor(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// Routes returns every route registered, as "METHOD /path" with echo's
// ":name" parameters; the catch-all routes echo adds to groups are left out.
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.echo.Routes() {
		if strings.HasSuffix(r.Path, "/*") || r.Method == echo.RouteNotFound || strings.HasSuffix(r.Name, "NotFoundHandler") {
			continue
		}
		out = append(out, r.Method+" "+r.Path)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
