package gateway

import (
	"encoding/hex"
	"math/rand/v2"
	"regexp"

	"github.com/labstack/echo/v4"
)

// requestIDPattern is the form of an X-Request-Id the gateway takes from a
// client (a proxy's, to follow a request across); anything else gets an
// id of the gateway's own.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestID gives every request an id, in X-Request-Id of the request
// and the response and in its log line: the incoming one when it matches
// requestIDPattern, else a new one (32 hex digits). Ids need not be
// secret, only unique.
func (s *Server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		rid := req.Header.Get(echo.HeaderXRequestID)
		if len(rid) > 64 || !requestIDPattern.MatchString(rid) {
			rid = newRequestID()
		}
		req.Header.Set(echo.HeaderXRequestID, rid)
		c.Response().Header().Set(echo.HeaderXRequestID, rid)
		return next(c)
	}
}

// newRequestID draws a request id.
func newRequestID() string {
	var b [16]byte
	for i := 0; i < len(b); i += 8 {
		v := rand.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return hex.EncodeToString(b[:])
}
