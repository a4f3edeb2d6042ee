package config

import (
	"fmt"
	"net"
	"time"
)

// Defaults of the HTTP server's timeouts.
const (
	DefaultHTTPReadHeaderTimeout = 10 * time.Second
	DefaultHTTPReadTimeout       = 30 * time.Second
	DefaultHTTPBodyTimeout       = 10 * time.Second
	DefaultHTTPWriteTimeout      = 30 * time.Second
	DefaultHTTPIdleTimeout       = 120 * time.Second
)

// HTTPTimeouts bound how long a client may hold a connection of the HTTP
// server without doing its part; a zero field takes its default (see
// WithDefaults).
type HTTPTimeouts struct {
	// ReadHeader bounds reading a request's headers, slowloris
	// (OPTIN_HTTP_READ_HEADER_TIMEOUT, http.read_header_timeout).
	ReadHeader time.Duration
	// Read bounds reading a whole request, headers and body
	// (OPTIN_HTTP_READ_TIMEOUT, http.read_timeout).
	Read time.Duration
	// Body bounds reading a request's body, from the end of its headers:
	// a body still incomplete then gets 408 and the connection is closed.
	// It applies when it is shorter than Read (which bounds the body
	// otherwise) (OPTIN_HTTP_BODY_TIMEOUT, http.body_timeout).
	Body time.Duration
	// Write bounds writing a response; a streamed response (an audience
	// export) has it anew for each chunk it writes
	// (OPTIN_HTTP_WRITE_TIMEOUT, http.write_timeout).
	Write time.Duration
	// Idle closes a keep-alive connection that waits that long for its
	// next request (OPTIN_HTTP_IDLE_TIMEOUT, http.idle_timeout).
	Idle time.Duration
}

// WithDefaults returns t with its zero fields set to the defaults.
func (t HTTPTimeouts) WithDefaults() HTTPTimeouts {
	or := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	or(&t.ReadHeader, DefaultHTTPReadHeaderTimeout)
	or(&t.Read, DefaultHTTPReadTimeout)
	or(&t.Body, DefaultHTTPBodyTimeout)
	or(&t.Write, DefaultHTTPWriteTimeout)
	or(&t.Idle, DefaultHTTPIdleTimeout)
	return t
}

// HTTP configures the HTTP listeners (docs/operations.md "HTTP timeouts"
// and "Metrics").
type HTTP struct {
	HTTPTimeouts
	// AdminAddr, when set, is a second listener (host:port) serving
	// /metrics without a token, /healthz and /readyz; /metrics then leaves
	// the public listener (OPTIN_ADMIN_ADDR, admin_addr).
	AdminAddr string
}

// httpFile is the http section of the YAML file.
type httpFile struct {
	ReadHeaderTimeout *time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       *time.Duration `yaml:"read_timeout"`
	BodyTimeout       *time.Duration `yaml:"body_timeout"`
	WriteTimeout      *time.Duration `yaml:"write_timeout"`
	IdleTimeout       *time.Duration `yaml:"idle_timeout"`
}

// loadHTTP applies OPTIN_HTTP_READ_HEADER_TIMEOUT, OPTIN_HTTP_READ_TIMEOUT,
// OPTIN_HTTP_BODY_TIMEOUT, OPTIN_HTTP_WRITE_TIMEOUT, OPTIN_HTTP_IDLE_TIMEOUT
// and OPTIN_ADMIN_ADDR over f and adminAddr (the file's admin_addr) and
// validates the result. addr is the public listener's address.
func loadHTTP(f httpFile, adminAddr, addr string, getenv func(string) string) (HTTP, error) {
	h := HTTP{HTTPTimeouts: HTTPTimeouts{}.WithDefaults()}
	for _, d := range []struct {
		yaml, env string
		in        *time.Duration
		out       *time.Duration
	}{
		{"http.read_header_timeout", "OPTIN_HTTP_READ_HEADER_TIMEOUT", f.ReadHeaderTimeout, &h.ReadHeader},
		{"http.read_timeout", "OPTIN_HTTP_READ_TIMEOUT", f.ReadTimeout, &h.Read},
		{"http.body_timeout", "OPTIN_HTTP_BODY_TIMEOUT", f.BodyTimeout, &h.Body},
		{"http.write_timeout", "OPTIN_HTTP_WRITE_TIMEOUT", f.WriteTimeout, &h.Write},
		{"http.idle_timeout", "OPTIN_HTTP_IDLE_TIMEOUT", f.IdleTimeout, &h.Idle},
	} {
		s := setting{d.yaml, ""}
		if d.in != nil {
			s.value = d.in.String()
		}
		s.set(getenv, d.env)
		if s.value == "" {
			continue
		}
		v, err := time.ParseDuration(s.value)
		if err != nil || v <= 0 {
			return h, fmt.Errorf("config: %s: must be a positive duration, e.g. 30s", s.name)
		}
		*d.out = v
	}
	admin := setting{"admin_addr", adminAddr}
	admin.set(getenv, "OPTIN_ADMIN_ADDR")
	if admin.value != "" {
		if _, _, err := net.SplitHostPort(admin.value); err != nil {
			return h, fmt.Errorf("config: %s: must be host:port, e.g. \"127.0.0.1:9090\"", admin.name)
		}
		if admin.value == addr {
			return h, fmt.Errorf("config: %s: must differ from the public listener's address %s", admin.name, addr)
		}
		h.AdminAddr = admin.value
	}
	return h, nil
}
