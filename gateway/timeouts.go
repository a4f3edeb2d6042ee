package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/optin-gateway/optin-gateway/config"
)

// Timeouts bound how long a client may hold a connection of the HTTP
// server without doing its part: the configuration's.
type Timeouts = config.HTTPTimeouts

// httpServer is an http.Server for h with the timeouts.
func (s *Server) httpServer(h http.Handler) *http.Server {
	t := s.opts.HTTP.Timeouts
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
	}
}

// serve listens on addr (and the admin listener, when configured) and
// serves until Shutdown.
func (s *Server) serve(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("gateway: serve %s: %w", addr, err)
	}
	if s.admin == nil {
		return s.ServeListener(ln)
	}
	adminDone, err := s.serveAdmin()
	if err != nil {
		ln.Close()
		return err
	}
	err = s.ServeListener(ln)
	if err != nil { // not a shutdown: the admin listener goes too
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.listeners.shutdown(ctx)
	}
	<-adminDone
	return err
}

// ServeListener is Serve on a listener of the caller's: it serves the
// public routes on ln until Shutdown, with the timeouts. It returns nil
// after a graceful shutdown.
func (s *Server) ServeListener(ln net.Listener) error {
	return s.listeners.serve(s.httpServer(s.echo), ln)
}

// listeners are the http.Servers a Server runs, for Shutdown.
type listeners struct {
	mu      sync.Mutex
	servers []*http.Server
	closed  bool
}

// serve runs hs on ln until shutdown; after shutdown it serves nothing.
func (l *listeners) serve(hs *http.Server, ln net.Listener) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		ln.Close()
		return nil
	}
	l.servers = append(l.servers, hs)
	l.mu.Unlock()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("gateway: serve %s: %w", ln.Addr(), err)
	}
	return nil
}

// shutdown shuts every server down gracefully, until ctx is done.
func (l *listeners) shutdown(ctx context.Context) error {
	l.mu.Lock()
	l.closed = true
	servers := l.servers
	l.mu.Unlock()
	var errs []error
	for _, hs := range servers {
		errs = append(errs, hs.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// bodyDeadline gives a request's body Timeouts.Body from now (the end of
// its headers) to arrive: a read past it (or past the read timeout) fails,
// and the request is answered 408 with its connection closed, whatever the
// handler made of the failed read. (Once the body is read, net/http lifts the deadline
// for its watch on the client going away.)
func (s *Server) bodyDeadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		t := s.opts.HTTP.Timeouts
		if req.Body == nil || req.Body == http.NoBody {
			return next(c)
		}
		if t.Body < t.Read {
			// An error: not a net/http connection (a test's recorder).
			_ = http.NewResponseController(c.Response()).SetReadDeadline(time.Now().Add(t.Body))
		}
		b := &deadlineBody{ReadCloser: req.Body}
		req.Body = b
		err := next(c)
		if b.timedOut.Load() {
			c.Response().Header().Set(echo.HeaderConnection, "close")
			return errBodyTimeout
		}
		return err
	}
}

// deadlineBody is a request body under a read deadline: it notes a read
// that timed out.
type deadlineBody struct {
	io.ReadCloser
	timedOut atomic.Bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && isTimeout(err) {
		b.timedOut.Store(true)
		return n, errBodyTimeout
	}
	return n, err
}

// isTimeout reports whether err is a deadline that passed.
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// streamWriter returns the response of c as a writer that gives each
// write Timeouts.Write from now: a streamed response may take as long as
// it needs, as long as the client keeps reading.
func (s *Server) streamWriter(c echo.Context) *deadlineWriter {
	return &deadlineWriter{w: c.Response(), rc: http.NewResponseController(c.Response()), d: s.opts.HTTP.Timeouts.Write}
}

type deadlineWriter struct {
	w  *echo.Response
	rc *http.ResponseController
	d  time.Duration
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.d))
	return w.w.Write(p)
}

// Flush sends what the response buffers, under a fresh write deadline.
func (w *deadlineWriter) Flush() {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.d))
	w.w.Flush()
}
