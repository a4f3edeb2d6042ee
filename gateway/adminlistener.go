package gateway

import (
	"fmt"
	"net"
	"net/http"

	"go.uber.org/zap"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// adminRoutes are the admin listener's routes (Options.HTTP.AdminAddr): the
// metrics without a token, and the health checks. The listener is meant
// for the operator's network only (a scraper, a load balancer's probes);
// the SMS providers never reach it.
func (s *Server) adminRoutes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(middleware.Recover(), s.requestID, s.accessLog)
	e.GET("/metrics", s.handleMetricsGet)
	e.GET("/healthz", s.handleHealthGet)
	e.GET("/readyz", s.handleReadyGet)
	return e
}

// serveAdmin listens on Options.HTTP.AdminAddr and serves the admin routes in
// the background; done is closed when they stop.
func (s *Server) serveAdmin() (done chan struct{}, err error) {
	ln, err := net.Listen("tcp", s.opts.HTTP.AdminAddr)
	if err != nil {
		return nil, fmt.Errorf("gateway: admin listener %s: %w", s.opts.HTTP.AdminAddr, err)
	}
	done = make(chan struct{})
	go func() {
		defer close(done)
		if err := s.ServeAdminListener(ln); err != nil {
			s.log.Error("admin listener stopped", zap.Error(err))
		}
	}()
	return done, nil
}

// AdminHandler returns the admin listener's routes as an http.Handler;
// nil without Options.HTTP.AdminAddr.
func (s *Server) AdminHandler() http.Handler {
	if s.admin == nil {
		return nil
	}
	return s.admin
}

// ServeAdminListener serves the admin listener's routes on ln until
// Shutdown, with the timeouts. It returns nil after a graceful shutdown.
func (s *Server) ServeAdminListener(ln net.Listener) error {
	if s.admin == nil {
		ln.Close()
		return fmt.Errorf("gateway: no admin listener configured")
	}
	return s.listeners.serve(s.httpServer(s.admin), ln)
}
