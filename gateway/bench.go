package gateway

import (
	"net/http"
	"net/http/pprof"

	"github.com/labstack/echo/v4"
)

// The benchmark-only routes, served when Options.HTTP.BenchRoutes is set. They
// run through the same middleware as every route (request id, access log,
// metrics, body limit, timeout), so that a benchmark compares what the
// webhook adds to a request and nothing else.
const (
	benchHelloPath    = "/bench/hello"
	benchBaselinePath = "/bench/baseline"
)

var (
	benchHelloBody    = []byte("hello\n")
	benchBaselineBody = []byte(`<?xml version="1.0" encoding="UTF-8"?><Response/>`)
)

// benchRoutes registers the benchmark-only routes, and Go's profiler under
// /debug/pprof/ to profile the server under load (through the request
// timeout: ask for CPU profiles and execution traces shorter than it,
// e.g. ?seconds=4).
func (s *Server) benchRoutes(e *echo.Echo) {
	e.Any(benchHelloPath, s.handleBenchHello)
	e.POST(benchBaselinePath, s.handleBenchBaseline)
	e.GET("/debug/pprof/", echo.WrapHandler(http.HandlerFunc(pprof.Index)))
	e.GET("/debug/pprof/profile", echo.WrapHandler(http.HandlerFunc(pprof.Profile)))
	e.GET("/debug/pprof/trace", echo.WrapHandler(http.HandlerFunc(pprof.Trace)))
	e.GET("/debug/pprof/:name", func(c echo.Context) error {
		pprof.Handler(c.Param("name")).ServeHTTP(c.Response(), c.Request())
		return nil
	})
}

// handleBenchHello answers a fixed body and does nothing else: the floor
// of a request through this server.
func (s *Server) handleBenchHello(c echo.Context) error {
	return c.Blob(http.StatusOK, "text/plain; charset=utf-8", benchHelloBody)
}

// handleBenchBaseline parses the form and checks the Twilio signature as
// the webhook does, then answers a fixed, empty TwiML without touching
// Redis: the webhook's cost without the state machine and the store.
func (s *Server) handleBenchBaseline(c echo.Context) error {
	w, ok := s.providers[ProviderTwilio]
	if !ok {
		return echo.ErrNotFound
	}
	r, err := s.providerRequest(c, w)
	if err != nil {
		return err
	}
	if err := s.verifyProvider(c, w, r); err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "text/xml; charset=utf-8", benchBaselineBody)
}
