package gateway

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/optin-gateway/optin-gateway/optin"
)

// Errors of the HTTP layer, beside the optin sentinels; statusOf maps
// each to its status.
var (
	errBadSignature = errors.New("invalid or missing X-Twilio-Signature")        // 403
	errUnauthorized = errors.New("missing or invalid bearer token")              // 401
	errForbidden    = errors.New("forbidden")                                    // 403: the token may not do this
	errTooManyAuth  = errors.New("too many failed authentications; retry later") // 429
	errTooLarge     = errors.New("request body too large")                       // 413
	// errBodyTimeout is a request body that did not arrive within the
	// body timeout (408; the connection is closed).
	errBodyTimeout = errors.New("request body not received in time; send the whole body at once")
	// errNoAPIReplies is a delivery status for a gateway that sends no
	// replies through a provider's API (404).
	errNoAPIReplies = errors.New("no replies are sent through the API")
)

// unknownNumber is a webhook for a business number this gateway does not
// serve (404). Field names the provider's field that held it ("To",
// "recipient"); the message never holds the number.
type unknownNumber struct{ field string }

func (e unknownNumber) Error() string { return e.field + " is not a number of this gateway" }

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
	case errors.Is(err, optin.ErrNotFound), errors.Is(err, errNoAPIReplies),
		errors.As(err, new(unknownNumber)):
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
