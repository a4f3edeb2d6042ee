package main

import (
	"io"
	"time"

	"go.uber.org/zap/zapcore"
)

// Log buffering: the access log writes one line per request, and one
// write(2) per line was some 4% of the webhook's CPU under load (profiled
// with make bench --cpuprofile). Lines are buffered up to logBufferSize and
// written at least every logFlushInterval, at once for a line at error
// level or above, and on shutdown (serve syncs the logger). A SIGKILL can
// lose up to that interval of info and warn lines; no consent record is in
// the log (they are in Redis and the audit log).
const (
	logBufferSize    = 256 << 10
	logFlushInterval = time.Second
)

// newLogSink returns w behind a buffer; Stop flushes it and ends its
// flushing goroutine.
func newLogSink(w io.Writer) *zapcore.BufferedWriteSyncer {
	return &zapcore.BufferedWriteSyncer{WS: zapcore.AddSync(w), Size: logBufferSize, FlushInterval: logFlushInterval}
}

// flushOnError is a core that syncs its sink after every entry at error
// level or above, so errors are never held in the buffer.
type flushOnError struct {
	zapcore.Core
	ws zapcore.WriteSyncer
}

func (c flushOnError) With(fields []zapcore.Field) zapcore.Core {
	return flushOnError{c.Core.With(fields), c.ws}
}

func (c flushOnError) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c flushOnError) Write(e zapcore.Entry, fields []zapcore.Field) error {
	err := c.Core.Write(e, fields)
	if e.Level >= zapcore.ErrorLevel {
		if serr := c.ws.Sync(); err == nil {
			err = serr
		}
	}
	return err
}
