// Package egresstest gives tests a resolver that answers from a fixed
// table, through Go's own DNS client, without any network: a name that
// "resolves" to loopback, as a rebound DNS name would.
package egresstest

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"net/netip"
	"strings"
)

// Resolver returns a resolver whose answers are names (lower case,
// without the trailing dot) to addresses; any other name does not exist.
// It speaks DNS over an in-memory connection to Go's pure resolver.
func Resolver(names map[string][]netip.Addr) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			client, server := net.Pipe()
			go serve(server, names)
			return client, nil
		},
	}
}

// serve answers DNS queries framed as over TCP (a two-byte length
// before each message: net.Pipe is not a PacketConn) until the client
// closes the connection.
func serve(c net.Conn, names map[string][]netip.Addr) {
	defer c.Close()
	for {
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		resp, err := answer(q, names)
		if err != nil {
			return
		}
		out := binary.BigEndian.AppendUint16(nil, u16(len(resp)))
		if _, err := c.Write(append(out, resp...)); err != nil {
			return
		}
	}
}

// answer builds the response to the one question of query q.
func answer(q []byte, names map[string][]netip.Addr) ([]byte, error) {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil, errors.New("egresstest: one question expected")
	}
	// The question: labels up to the root, type, class.
	i, labels := 12, []string{}
	for {
		if i >= len(q) {
			return nil, errors.New("egresstest: short question")
		}
		l := int(q[i])
		i++
		if l == 0 {
			break
		}
		if l > 63 || i+l > len(q) {
			return nil, errors.New("egresstest: bad label")
		}
		labels = append(labels, string(q[i:i+l]))
		i += l
	}
	if i+4 > len(q) {
		return nil, errors.New("egresstest: short question")
	}
	qtype := binary.BigEndian.Uint16(q[i : i+2])
	question := q[12 : i+4]
	addrs, known := names[strings.ToLower(strings.Join(labels, "."))]

	var answers [][]byte
	for _, a := range addrs {
		switch {
		case qtype == 1 && a.Is4(): // A
			b := a.As4()
			answers = append(answers, rr(1, b[:]))
		case qtype == 28 && a.Is6() && !a.Is4In6(): // AAAA
			b := a.As16()
			answers = append(answers, rr(28, b[:]))
		}
	}
	flags := uint16(0x8180) // a response, recursion desired and available
	if !known {
		flags |= 3 // NXDOMAIN
	}
	h := make([]byte, 12)
	copy(h[0:2], q[0:2]) // the id
	binary.BigEndian.PutUint16(h[2:4], flags)
	binary.BigEndian.PutUint16(h[4:6], 1)
	binary.BigEndian.PutUint16(h[6:8], u16(len(answers)))
	out := append(h, question...)
	for _, a := range answers {
		out = append(out, a...)
	}
	return out, nil
}

// rr is an answer record for the question's name (a pointer to offset 12).
func rr(typ uint16, data []byte) []byte {
	b := []byte{0xc0, 12}
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, 1)  // IN
	b = binary.BigEndian.AppendUint32(b, 60) // TTL
	b = binary.BigEndian.AppendUint16(b, u16(len(data)))
	return append(b, data...)
}

// u16 is n as a DNS length or count; the test's messages are small.
func u16(n int) uint16 {
	if n < 0 || n > math.MaxUint16 {
		panic("egresstest: length out of range")
	}
	return uint16(n)
}
