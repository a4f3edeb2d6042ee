package gateway

import (
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const logFieldsKey = "log_fields"

// logFields adds fields to the request's one log line.
func logFields(c echo.Context, fields ...zap.Field) {
	if p, ok := c.Get(logFieldsKey).(*[]zap.Field); ok {
		*p = append(*p, fields...)
		return
	}
	c.Set(logFieldsKey, &[]zap.Field{}) // outside accessLog (tests of a handler alone)
	logFields(c, fields...)
}

// logFieldsCap is room for the fields a webhook's handler adds and
// accessLog's own, so that none of them grows the slice.
const logFieldsCap = 16

// accessLog writes one line per request, at the edge, once: the route
// pattern (never the raw path, which may hold a phone number), status,
// latency, request id and the fields the handler added. Phone numbers
// appear only masked; bodies, codes and tokens never.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		fields := make([]zap.Field, 0, logFieldsCap)
		c.Set(logFieldsKey, &fields)
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		latency := time.Since(start)
		s.metrics.observeRequest(c.Path(), status, latency, fields)
		fields = append(fields,
			zap.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
			zap.String("method", logMethod(c.Request().Method)),
			zap.String("route", c.Path()),
			zap.Int("status", status),
			zap.Duration("latency", latency),
		)
		level := zapcore.InfoLevel
		switch {
		case status >= 500:
			level = zapcore.ErrorLevel
		case status >= 400:
			level = zapcore.WarnLevel
		}
		if ce := s.log.Check(level, "request"); ce != nil {
			ce.Write(fields...)
		}
		return nil
	}
}
