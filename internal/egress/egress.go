// Package egress keeps the gateway's requests to tenant-given URLs (the
// event webhooks) on the public internet: a tenant admin must not be able
// to make the gateway call into its own network (SSRF).
//
// A URL is checked twice. CheckURL, when it is configured, refuses a host
// that is an address in a non-public range, in any spelling the resolver
// would accept (decimal, hex, octal and short IPv4 forms, bracketed and
// IPv4-mapped IPv6, zones), and the localhost names; a host name is
// accepted then, since DNS may change. The Dialer's Control hook checks
// every address actually dialed, after resolution, so a name that
// resolves (or is rebound) to a private address fails at dial time. The
// Client follows no redirects and takes no proxy from the environment (a
// proxy would dial the target itself, past the Control hook).
//
// The operator's allow-list (Policy.Allow, OPTIN_EGRESS_ALLOW_CIDRS)
// opens chosen private ranges, e.g. 10.0.0.0/8 for an internal CRM.
package egress

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrRefused is wrapped by every error of a refused URL or address.
var ErrRefused = errors.New("egress: refused")

// Policy decides which addresses the gateway may reach for tenants. The
// zero value (and a nil *Policy) allows public addresses only. Safe for
// concurrent use once built; do not modify it afterwards.
type Policy struct {
	// Allow are the operator's allowed ranges: an address inside one is
	// allowed whatever its kind (loopback, private, ...).
	Allow []netip.Prefix
	// Resolver resolves host names at dial time; nil: net.DefaultResolver.
	Resolver *net.Resolver
}

// Refusal is the error of an address outside the policy.
type Refusal struct {
	Addr netip.Addr
	Kind string // "loopback", "private", "link-local", ...
}

func (e *Refusal) Error() string {
	return fmt.Sprintf("%s is a %s address, not a public one", e.Addr, e.Kind)
}

// Unwrap makes a Refusal an ErrRefused.
func (e *Refusal) Unwrap() error { return ErrRefused }

// refusedError is a refused URL's reason, an ErrRefused.
type refusedError string

func (e refusedError) Error() string { return string(e) }
func (e refusedError) Unwrap() error { return ErrRefused }

func refuse(format string, args ...any) error { return refusedError(fmt.Sprintf(format, args...)) }

// blockedRange is a range of addresses that are not public, with its
// kind.
type blockedRange struct {
	p    netip.Prefix
	kind string
}

// blocked4 are the IPv4 ranges that are not public (IANA's special-purpose
// registry, RFC 6890 and successors).
var blocked4 = []blockedRange{
	{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (CGNAT)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "protocol-assignment"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("192.88.99.0/24"), "6to4-relay"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved (or broadcast)"},
}

// blocked6 are the IPv6 ranges inside global unicast (2000::/3) that are
// not public; everything outside 2000::/3 is refused too, but for the
// NAT64 and the IPv4-mapped forms, which are judged by the IPv4 address
// they embed.
var blocked6 = []blockedRange{
	{netip.MustParsePrefix("2001::/23"), "protocol-assignment (Teredo, benchmarking, ORCHID)"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("3fff::/20"), "documentation"},
}

var (
	global6 = netip.MustParsePrefix("2000::/3")
	nat64   = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052 well-known prefix
	sixTo4  = netip.MustParsePrefix("2002::/16")    // RFC 3056
)

// kind returns why a is not public, "" when it is. a has no zone.
func kind(a netip.Addr) string {
	a = a.Unmap()
	if a.Is4() {
		return kindIn(blocked4, a)
	}
	switch {
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsMulticast():
		return "multicast"
	case a.IsPrivate():
		return "unique-local (ULA)"
	case nat64.Contains(a):
		b := a.As16()
		if k := kind(netip.AddrFrom4([4]byte(b[12:16]))); k != "" {
			return "NAT64-embedded " + k
		}
		return ""
	case sixTo4.Contains(a):
		b := a.As16()
		if k := kind(netip.AddrFrom4([4]byte(b[2:6]))); k != "" {
			return "6to4-embedded " + k
		}
		return ""
	case !global6.Contains(a):
		return "reserved"
	}
	return kindIn(blocked6, a)
}

// kindIn returns the kind of the first of ranges that holds a, "" when
// none does.
func kindIn(ranges []blockedRange, a netip.Addr) string {
	for _, r := range ranges {
		if r.p.Contains(a) {
			return r.kind
		}
	}
	return ""
}

// CheckAddr returns nil when a may be dialed: it is public or inside the
// allow-list; else a *Refusal. An IPv4-mapped address counts as its IPv4
// address; a zone is ignored.
func (p *Policy) CheckAddr(a netip.Addr) error {
	a = a.WithZone("").Unmap()
	if !a.IsValid() {
		return &Refusal{Addr: a, Kind: "invalid"}
	}
	if p != nil {
		for _, pre := range p.Allow {
			if pre.Contains(a) {
				return nil
			}
		}
	}
	if k := kind(a); k != "" {
		return &Refusal{Addr: a, Kind: k}
	}
	return nil
}

// loopback4 is what a localhost name stands for at configuration time.
var loopback4 = netip.MustParseAddr("127.0.0.1")

// CheckHost checks a URL's host (without port or brackets) at
// configuration time: an address must pass CheckAddr; a spelling of an
// address that is not the canonical one (2130706433, 0x7f000001,
// 0177.0.0.1, 127.1, a trailing dot) is refused, whatever it means, since
// resolvers read them differently, and so is a non-ASCII host (the
// client's IDNA mapping could turn it into either); localhost and *.localhost (and the
// usual /etc/hosts aliases) count as 127.0.0.1; any other name is
// accepted (the dialer checks what it resolves to).
func (p *Policy) CheckHost(host string) error {
	if host == "" {
		return refuse("must name a host")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return p.CheckAddr(a)
	}
	for _, c := range host {
		if c >= 0x80 {
			// HTTP clients map these (IDNA UTS 46) before dialing:
			// "ⓛocalhost" is localhost and "127。0。0。1" is 127.0.0.1.
			return refuse("must write a non-ASCII host name in its ASCII (xn--) form: %q", host)
		}
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if name == "" || strings.ContainsAny(name, ":%[] ") {
		return refuse("must name a host or an IP address, not %q", host)
	}
	if numeric(name[strings.LastIndexByte(name, '.')+1:]) {
		return refuse("must write an IP address in dotted decimal (IPv4) or in brackets (IPv6): %q reads as an address in another form", host)
	}
	if localName(name) {
		if err := p.CheckAddr(loopback4); err != nil {
			return refuse("must reach a public address (or one the operator allows): %q names the loopback address", host)
		}
	}
	return nil
}

// numeric reports whether a DNS label reads as a number to inet_aton:
// decimal or octal digits, or 0x and hex digits. No top-level domain is
// numeric, so a host ending in one is an address.
func numeric(label string) bool {
	if label == "" {
		return false
	}
	digits := label
	hex := len(label) >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X')
	if hex {
		digits = label[2:]
	}
	for _, c := range digits {
		switch {
		case c >= '0' && c <= '9':
		case hex && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'):
		default:
			return false
		}
	}
	return true
}

// localName reports whether name (lower case, no trailing dot) is
// localhost by RFC 6761 or a common /etc/hosts alias of loopback.
func localName(name string) bool {
	switch name {
	case "localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback":
		return true
	}
	return strings.HasSuffix(name, ".localhost")
}

// CheckURL checks a tenant-given URL at configuration time: absolute,
// https (http only to a loopback host, for development, which the
// allow-list must then cover), and a host that passes CheckHost. The
// error wraps ErrRefused and reads after "url ", e.g. "must reach a
// public address: 127.0.0.1 is a loopback address, not a public one".
func (p *Policy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return refuse("must be an absolute URL")
	}
	host := u.Hostname()
	switch u.Scheme {
	case "https":
	case "http":
		if !loopbackHost(host) {
			return refuse("must be https (http only to localhost)")
		}
	default:
		return refuse("must be https (http only to localhost)")
	}
	if err := p.CheckHost(host); err != nil {
		var r *Refusal
		if errors.As(err, &r) {
			return fmt.Errorf("must reach a public address (or one the operator allows): %w", err)
		}
		return err
	}
	return nil
}

func loopbackHost(host string) bool {
	if localName(strings.ToLower(strings.TrimSuffix(host, "."))) {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.WithZone("").Unmap().IsLoopback()
}

// control is the dialer's Control hook: it refuses an address outside
// the policy, after resolution, right before the connection is made.
func (p *Policy) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return refuse("egress: dial %s %s: not an IP address", network, address)
	}
	if err := p.CheckAddr(ap.Addr()); err != nil {
		return fmt.Errorf("egress: %w", err)
	}
	return nil
}

// Dialer returns a dialer that connects only to addresses the policy
// allows, checked on each resolved address as it is dialed (so DNS
// rebinding fails too).
func (p *Policy) Dialer() *net.Dialer {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: p.control}
	if p != nil {
		d.Resolver = p.Resolver
	}
	return d
}

// Transport returns an HTTP transport that dials through Dialer and uses
// no proxy (a proxy would connect to the target itself, unchecked).
func (p *Policy) Transport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           p.Dialer().DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Client returns an HTTP client on Transport that follows no redirects:
// a 3xx answer is the response (the caller counts it a failure), since a
// redirect could point anywhere.
func (p *Policy) Client() *http.Client {
	return &http.Client{
		Transport:     p.Transport(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
