package gateway

import (
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// requestID gives every request an id, in X-Request-Id.
func (s *Server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return middleware.RequestID()(next)
}
