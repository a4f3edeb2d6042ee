package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// poster posts form bodies over HTTP/1.1 keep-alive connections with as
// little client CPU as it can: the load generator shares the machine with
// the server it measures, so every microsecond it spends is taken from the
// server. It writes requests by hand and reads responses with net/http's
// own parser (http.ReadResponse). It is safe for concurrent use.
type poster struct {
	addr, host, path string
	timeout          time.Duration
	idle             chan *pconn
	bufs             sync.Pool // *bytes.Buffer
}

type pconn struct {
	c net.Conn
	r *bufio.Reader
}

// newPoster returns a poster to target (http://host:port/path) keeping up
// to maxIdle connections open.
func newPoster(target string, maxIdle int, timeout time.Duration) (*poster, error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("loadgen: target %q: want http://host:port/path", target)
	}
	addr := u.Host
	if u.Port() == "" {
		addr += ":80"
	}
	p := &poster{addr: addr, host: u.Host, path: u.RequestURI(), timeout: timeout, idle: make(chan *pconn, maxIdle)}
	p.bufs.New = func() any { return new(bytes.Buffer) }
	return p, nil
}

// post sends body with the given signature (none when "") and returns the
// status and the response body.
func (p *poster) post(body []byte, sig string) (int, []byte, error) {
	buf := p.bufs.Get().(*bytes.Buffer)
	defer p.bufs.Put(buf)
	buf.Reset()
	buf.WriteString("POST ")
	buf.WriteString(p.path)
	buf.WriteString(" HTTP/1.1\r\nHost: ")
	buf.WriteString(p.host)
	buf.WriteString("\r\nUser-Agent: optin-loadgen\r\nContent-Type: application/x-www-form-urlencoded\r\n")
	if sig != "" {
		buf.WriteString("X-Twilio-Signature: ")
		buf.WriteString(sig)
		buf.WriteString("\r\n")
	}
	buf.WriteString("Content-Length: ")
	buf.WriteString(strconv.Itoa(len(body)))
	buf.WriteString("\r\n\r\n")
	buf.Write(body)

	// A kept connection the server closed meanwhile fails at once: retry
	// such a failure once on a fresh connection.
	for attempt := 0; ; attempt++ {
		c, reused, err := p.conn()
		if err != nil {
			return 0, nil, err
		}
		status, reply, keep, err := p.roundTrip(c, buf.Bytes())
		if err != nil {
			c.c.Close()
			if reused && attempt == 0 {
				continue
			}
			return 0, nil, err
		}
		if keep {
			p.put(c)
		} else {
			c.c.Close()
		}
		return status, reply, nil
	}
}

func (p *poster) roundTrip(c *pconn, req []byte) (int, []byte, bool, error) {
	_ = c.c.SetDeadline(time.Now().Add(p.timeout))
	if _, err := c.c.Write(req); err != nil {
		return 0, nil, false, err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0, nil, false, err
	}
	reply, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, nil, false, err
	}
	return resp.StatusCode, reply, !resp.Close, nil
}

// conn returns an idle connection, or dials one.
func (p *poster) conn() (*pconn, bool, error) {
	select {
	case c := <-p.idle:
		return c, true, nil
	default:
	}
	c, err := net.DialTimeout("tcp", p.addr, 2*time.Second)
	if err != nil {
		return nil, false, err
	}
	return &pconn{c: c, r: bufio.NewReaderSize(c, 4096)}, false, nil
}

func (p *poster) put(c *pconn) {
	select {
	case p.idle <- c:
	default:
		c.c.Close()
	}
}

// close closes the idle connections.
func (p *poster) close() {
	for {
		select {
		case c := <-p.idle:
			c.c.Close()
		default:
			return
		}
	}
}
