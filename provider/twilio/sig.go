package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// signer computes and checks Twilio webhook signatures on the hot
// path. It gives the same answer as twilio-go's RequestValidator.Validate
// (the reference, kept in the tests with a differential test and a fuzz
// target) without its cost: the HMAC state, the key list and the message
// buffer are pooled, the parameters are appended into one buffer instead of
// concatenated string by string, and the two URL spellings the reference
// tries (with and without the port) are worked out once per request URI
// and cached. It is safe for concurrent use.
type signer struct {
	key   []byte
	pool  sync.Pool // *sigScratch
	mu    sync.RWMutex
	base  string               // the base URL whose request URIs urls caches
	urls  map[string][2]string // request URI → the spellings to try, verbatim first
	limit int                  // entries kept in urls
}

// sigScratch is the per-call state the pool hands out.
type sigScratch struct {
	mac  hash.Hash
	buf  []byte
	keys []string
	sum  [sha1.Size]byte
	b64  [28]byte // base64 of a SHA-1 sum
}

// maxCachedURLs bounds the URL cache: a webhook route sees one request URI,
// and a stranger inventing query strings must not grow memory.
const maxCachedURLs = 64

// newSigner returns a signer for the auth token that caches the URL
// spellings of request URIs under base (the public URL).
func newSigner(token, base string) *signer {
	s := &signer{key: []byte(token), base: base, urls: map[string][2]string{}, limit: maxCachedURLs}
	s.pool.New = func() any {
		return &sigScratch{mac: hmac.New(sha1.New, s.key), buf: make([]byte, 0, 1024)}
	}
	return s
}

// valid reports whether sig is Twilio's signature of a request to
// base+requestURI (the public URL and the path and query received) with the parameters form, under the reference's rules: HMAC-SHA1 over the
// URL and each key followed by its value in key order, base64; the URL
// counts with and without its port. A key with several values never
// verifies (the reference takes one value per key), and a key with none
// counts as absent.
func (s *signer) valid(base, requestURI string, form url.Values, sig string) bool {
	if len(sig) != base64.StdEncoding.EncodedLen(sha1.Size) {
		// Every base64 SHA-1 is 28 bytes: nothing else can compare equal.
		return false
	}
	x := s.pool.Get().(*sigScratch)
	defer s.pool.Put(x)
	x.keys = x.keys[:0]
	for k, vs := range form {
		switch len(vs) {
		case 0:
			continue
		case 1:
			x.keys = append(x.keys, k)
		default:
			return false
		}
	}
	slices.Sort(x.keys)
	spellings := s.spellings(base, requestURI)
	for i, u := range spellings {
		if i == 1 && u == spellings[0] {
			break
		}
		if s.check(x, u, form, sig) {
			return true
		}
	}
	return false
}

// check computes the signature of u and the sorted parameters into x and
// compares it with sig in constant time.
func (s *signer) check(x *sigScratch, u string, form url.Values, sig string) bool {
	x.buf = append(x.buf[:0], u...)
	for _, k := range x.keys {
		x.buf = append(x.buf, k...)
		x.buf = append(x.buf, form[k][0]...)
	}
	x.mac.Reset()
	x.mac.Write(x.buf)
	base64.StdEncoding.Encode(x.b64[:], x.mac.Sum(x.sum[:0]))
	if cap(x.buf) > 64<<10 {
		x.buf = nil // let an outsized message go rather than pin it in the pool
	}
	return subtle.ConstantTimeCompare(x.b64[:], []byte(sig)) == 1
}

// spellings returns the URL spellings the reference checks for
// base+requestURI: the URL as it is (whichever of the two it equals) first,
// then the other. Requests to one base and request URI share one cache
// entry, so the hot path neither parses nor concatenates.
func (s *signer) spellings(base, requestURI string) [2]string {
	s.mu.RLock()
	sp, ok := s.urls[requestURI]
	s.mu.RUnlock()
	if ok && s.base == base {
		return sp
	}
	fullURL := base + requestURI
	with, without := addPort(fullURL), removePort(fullURL)
	sp = [2]string{with, without}
	if without == fullURL {
		sp = [2]string{without, with}
	}
	s.mu.Lock()
	if len(s.urls) < s.limit && base == s.base {
		s.urls[requestURI] = sp
	}
	s.mu.Unlock()
	return sp
}

// sign returns the base64 signature of fullURL and form as Twilio computes
// it: repeated keys contribute each value, values sorted.
func (s *signer) sign(fullURL string, form url.Values) string {
	x := s.pool.Get().(*sigScratch)
	defer s.pool.Put(x)
	x.keys = x.keys[:0]
	for k := range form {
		x.keys = append(x.keys, k)
	}
	slices.Sort(x.keys)
	x.buf = append(x.buf[:0], fullURL...)
	for _, k := range x.keys {
		vs := form[k]
		if len(vs) > 1 {
			vs = slices.Sorted(slices.Values(vs))
		}
		for _, v := range vs {
			x.buf = append(x.buf, k...)
			x.buf = append(x.buf, v...)
		}
	}
	x.mac.Reset()
	x.mac.Write(x.buf)
	return base64.StdEncoding.EncodeToString(x.mac.Sum(x.sum[:0]))
}

// addPort, updatePort and removePort are twilio-go v1.31.0's
// (client/request_validator.go, MIT licence), copied so that the fast path
// spells URLs exactly as the reference does, quirks included (a URL that
// does not parse is used as it is; a host is cut at its first colon).

func addPort(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return u
	}
	if len(parsed.Port()) != 0 {
		return u
	}
	if parsed.Scheme == "https" {
		return updatePort(u, 443)
	}
	return updatePort(u, 80)
}

func updatePort(u string, newPort int) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return u
	}
	var newHost string
	if len(parsed.Port()) == 0 {
		newHost = fmt.Sprintf("%s:%d", parsed.Host, newPort)
	} else {
		oldHost := strings.Split(parsed.Host, ":")[0]
		newHost = fmt.Sprintf("%s:%d", oldHost, newPort)
	}
	parsed.Host = newHost
	return parsed.String()
}

func removePort(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return u
	}
	if len(parsed.Port()) == 0 {
		return u
	}
	parsed.Host = strings.Split(parsed.Host, ":")[0]
	return parsed.String()
}

// Sign returns the X-Twilio-Signature that Twilio sends with a POST of
// form to fullURL, by its documented algorithm: HMAC-SHA1 under the auth
// token over the URL followed by each parameter's name and value, in name
// order (a repeated name's values sorted), base64. The send subcommand,
// the load generator and the tests sign with it; to sign many requests,
// use a Signer.
func Sign(authToken, fullURL string, form url.Values) string {
	return newSigner(authToken, "").sign(fullURL, form)
}

// Signer computes X-Twilio-Signature values as Sign does, reusing its
// HMAC state and buffers across calls: for load generators and tools
// that sign many requests. It is safe for concurrent use.
type Signer struct{ s *signer }

// NewSigner returns a signer for the auth token.
func NewSigner(authToken string) *Signer {
	return &Signer{newSigner(authToken, "")}
}

// Sign returns the signature of a POST of form to fullURL.
func (t *Signer) Sign(fullURL string, form url.Values) string { return t.s.sign(fullURL, form) }
