package gateway

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/optin-gateway/optin-gateway/optin"
)

// Errors of the HTTP layer, beside the optin sentinels.
var (
	errBadSignature = errors.New("invalid or missing X-Twilio-Signature")
	errUnauthorized = errors.New("missing or invalid bearer token")
	errTooLarge     = errors.New("request body too large")
)

// badRequest is a malformed request; its message is shown to the caller
// and must not hold personal data.
type badRequest struct{ msg string }

func (e badRequest) Error() string { return e.msg }

// conflictError is a change refused because of the state it would change:
// a stale version, an object still in use. Field names the JSON field.
type conflictError struct{ field, msg string }

func (e conflictError) Error() string { return e.msg }

// retryAfter is the Retry-After, in seconds, of a 503.
const retryAfter = "1"

// statusOf maps an error to its HTTP status: the one table of the gateway.
func statusOf(err error) int {
	var he *echo.HTTPError
	var br badRequest
	switch {
	case errors.As(err, &br), errors.Is(err, optin.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, errUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, errForbidden):
		return http.StatusForbidden
	case errors.Is(err, errTooManyAuth):
		return http.StatusTooManyRequests
	case errors.As(err, new(conflictError)):
		return http.StatusConflict
	case errors.Is(err, errBadSignature):
		return http.StatusForbidden
	case errors.Is(err, optin.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errBodyTimeout):
		return http.StatusRequestTimeout
	case errors.Is(err, optin.ErrUnavailable), errors.Is(err, optin.ErrConflict),
		errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	case errors.As(err, &he):
		return he.Code
	}
	return http.StatusInternalServerError
}

// handleError answers a failed request with {"error": message} and the
// status of statusOf. Internal errors show a generic message.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status := statusOf(err)
	msg := err.Error()
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		if m, ok := he.Message.(string); ok {
			msg = m
		}
	case status == http.StatusServiceUnavailable:
		c.Response().Header().Set("Retry-After", retryAfter)
		msg = "temporarily unavailable, retry later"
	case status == http.StatusInternalServerError:
		msg = http.StatusText(status)
	case !authenticated(c) && len(msg) > maxUnauthenticatedMessage:
		msg = http.StatusText(status) // it may quote the request (loghygiene.go)
	}
	if status == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="optin-gateway"`)
	}
	body := map[string]string{}
	var fe *optin.FieldError
	var ce conflictError
	switch {
	case errors.As(err, &fe):
		body["field"] = fe.Field
	case errors.As(err, &ce) && ce.field != "":
		body["field"] = ce.field
	case status == http.StatusNotFound && (errors.Is(err, optin.ErrNotFound) || errors.Is(err, echo.ErrNotFound)):
		// One body for another tenant's data and for what does not exist.
		msg = "not found"
	}
	body["error"] = msg
	logFields(c, errorField(c, status, err))
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, body)
}
