package gateway

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
)

// The benchmark-only routes, served when Options.BenchRoutes is set. They
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

// handleBenchHello answers a fixed body and does nothing else: the floor
// of a request through this server.
func (s *Server) handleBenchHello(c echo.Context) error {
	return c.Blob(http.StatusOK, "text/plain; charset=utf-8", benchHelloBody)
}

// handleBenchBaseline parses the form and checks the Twilio signature as
// the webhook does, then answers a fixed, empty TwiML without touching
// Redis: the webhook's cost without the state machine and the store.
func (s *Server) handleBenchBaseline(c echo.Context) error {
	req := c.Request()
	if err := req.ParseForm(); err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge {
			return errTooLarge
		}
		return badRequest{"malformed form body"}
	}
	if !s.twilio.verify(req.URL.RequestURI(), req.PostForm, req.Header.Get(TwilioSignatureHeader)) {
		logFields(c, zap.String("security_event", "bad_signature"))
		return errBadSignature
	}
	return c.Blob(http.StatusOK, "text/xml; charset=utf-8", benchBaselineBody)
}
