package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/optin-gateway/optin-gateway/internal/durable"
	"github.com/optin-gateway/optin-gateway/optin"
)

// The audit log is a directory of append-only segment files:
//
//	seg-000000000001.log     records 1..n, one per line
//	seg-000000000001.digest  written when the segment is sealed
//	seg-000000000002.log     the active segment
//	anchor.json              where the kept chain starts, once retention deleted segments
//	LOCK                     held (flock) by the archiver that writes
//
// A record is one line: the hex SHA-256 of the body, a space, the body (one
// line of JSON), a newline. The body names the hash of the record before
// it ("prev"; 64 zeros for the first record of the chain), so the records
// form one hash chain across segments.

// genesis is the prev of the first record of a chain.
var genesis = strings.Repeat("0", 64)

const (
	segPrefix  = "seg-"
	segSuffix  = ".log"
	digestExt  = ".digest"
	anchorName = "anchor.json"
	lockName   = "LOCK"
)

// recordBody is what a record's hash covers.
type recordBody struct {
	Seq        uint64          `json:"seq"`
	Prev       string          `json:"prev"`
	Fence      int64           `json:"fence"` // lease token of the archiver that wrote it
	Shard      int             `json:"shard"` // outbox stream the event came from
	Entry      string          `json:"entry"` // its stream entry id
	ArchivedAt time.Time       `json:"archived_at"`
	Event      json.RawMessage `json:"event"`
}

// digest is the content of a sealed segment's .digest file.
type digest struct {
	Segment  uint64    `json:"segment"`
	FirstSeq uint64    `json:"first_seq"` // 0 when the segment is empty
	LastSeq  uint64    `json:"last_seq"`
	Count    uint64    `json:"count"`
	Prev     string    `json:"prev"` // prev of the first record
	Head     string    `json:"head"` // hash of the last record
	SHA256   string    `json:"sha256"`
	LastAt   time.Time `json:"last_at"` // archived_at of the last record
	SealedAt time.Time `json:"sealed_at"`
	// Fence is the highest fencing token found in the log so far.
	Fence int64 `json:"fence"`
	// Subjects lists, sorted, every tenant/subscriber with a record in the
	// segment, so evidence reads only the segments that concern it.
	Subjects []string `json:"subjects"`
}

// anchor is where the kept chain starts once retention deleted segments.
type anchor struct {
	Segment  uint64    `json:"segment"`   // first kept segment
	FirstSeq uint64    `json:"first_seq"` // seq of its first record
	Prev     string    `json:"prev"`      // prev of that record
	Deleted  uint64    `json:"deleted"`   // segments deleted so far
	At       time.Time `json:"at"`
}

func segName(n uint64) string    { return fmt.Sprintf("%s%012d%s", segPrefix, n, segSuffix) }
func digestName(n uint64) string { return fmt.Sprintf("%s%012d%s", segPrefix, n, digestExt) }

// encodeRecord returns the line of body and its hash.
func encodeRecord(body recordBody) ([]byte, string, error) {
	// The body is written after room for its hash, which goes in front.
	const head = 2*sha256.Size + 1 // the hash in hex and a space
	line, ok := appendRecordJSON(make([]byte, head, head+256+len(body.Event)), body)
	if !ok {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, "", err
		}
		line = append(make([]byte, head, head+len(b)+1), b...)
	}
	sum := sha256.Sum256(line[head:])
	hex.Encode(line, sum[:])
	line[head-1] = ' '
	return append(line, '\n'), string(line[:head-1]), nil
}

// appendRecordJSON appends body to b exactly as json.Marshal encodes it,
// without encoding/json, when it can tell the bytes would be the same: the
// strings need no escaping, the time is one MarshalJSON writes as
// RFC 3339, and the event is JSON that json.Marshal copies as it is (no
// whitespace, nothing it escapes for HTML); false otherwise, for
// json.Marshal to do. The archiver's events come from json.Marshal, so
// nearly all take this way: encoding/json validated and compacted each
// again, some 3% of the gateway's CPU under load. body.Event must be
// valid JSON, as the archiver makes sure (parseEventHead), since this way
// does not look. TestRecordJSONMatchesMarshal and FuzzRecordJSON hold it
// to json.Marshal.
func appendRecordJSON(b []byte, body recordBody) ([]byte, bool) {
	_, offset := body.ArchivedAt.Zone()
	if y := body.ArchivedAt.Year(); y < 0 || y > 9999 || offset%60 != 0 ||
		!plainJSONString(body.Prev) || !plainJSONString(body.Entry) || !copiedAsIs(body.Event) {
		return nil, false
	}
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, body.Seq, 10)
	b = append(b, `,"prev":"`...)
	b = append(b, body.Prev...)
	b = append(b, `","fence":`...)
	b = strconv.AppendInt(b, body.Fence, 10)
	b = append(b, `,"shard":`...)
	b = strconv.AppendInt(b, int64(body.Shard), 10)
	b = append(b, `,"entry":"`...)
	b = append(b, body.Entry...)
	b = append(b, `","archived_at":"`...)
	b = body.ArchivedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","event":`...)
	b = append(b, body.Event...)
	return append(b, '}'), true
}

// plainJSONString reports whether json.Marshal writes s as it is between
// quotes: printable ASCII other than the quote, the backslash and the
// three characters it escapes for HTML.
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// copiedAsIs reports whether json.Marshal copies raw, valid JSON, as it
// is: with no whitespace (which compacting drops), no '<', '>' or '&' and
// no byte 0xE2 (U+2028 and U+2029 start with it), which it escapes.
func copiedAsIs(raw json.RawMessage) bool {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\r', '\n', '<', '>', '&', 0xe2:
			return false
		}
	}
	return len(raw) > 0
}

// segLine is one line of a segment file, without its newline.
type segLine struct {
	raw      []byte
	offset   int64 // of its first byte
	complete bool  // ended by a newline
}

// splitLines splits a segment's bytes into lines.
func splitLines(b []byte) []segLine {
	var out []segLine
	var off int64
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out = append(out, segLine{raw: b, offset: off})
			break
		}
		out = append(out, segLine{raw: b[:i], offset: off, complete: true})
		off += int64(i) + 1
		b = b[i+1:]
	}
	return out
}

// parseLine decodes one record line and checks that its hash matches its
// body.
func parseLine(raw []byte) (recordBody, string, error) {
	var body recordBody
	if len(raw) < 66 || raw[64] != ' ' {
		return body, "", errors.New("not a record (want a hash, a space and a body)")
	}
	h := string(raw[:64])
	sum := sha256.Sum256(raw[65:])
	if hex.EncodeToString(sum[:]) != h {
		return body, h, errors.New("its hash does not match its contents")
	}
	if err := json.Unmarshal(raw[65:], &body); err != nil {
		return body, h, fmt.Errorf("body is not valid JSON: %v", err)
	}
	return body, h, nil
}

// listSegments returns the numbers of the segments in dir, ascending.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("store: audit dir %s: %w", dir, err)
	}
	var segs []uint64
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix), 10, 64)
		if err != nil {
			continue
		}
		segs = append(segs, n)
	}
	slices.Sort(segs)
	return segs, nil
}

func readJSON(path string, v any) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("store: read %s: %w", path, err)
	}
	return true, nil
}

// writeFileSync replaces the file at path atomically and durably.
func writeFileSync(path string, b []byte) error {
	if err := durable.WriteFile(path, b); err != nil {
		return fmt.Errorf("store: write %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error { return durable.SyncDir(dir) }

// Kinds of ChainError: how the chain is broken.
const (
	BreakEdited    = "edited"
	BreakRemoved   = "removed"
	BreakReordered = "reordered"
	BreakTruncated = "truncated"
	BreakFenced    = "fenced" // written by an archiver whose lease had passed on
)

// ChainError says where the audit log first breaks: the segment, the line
// (from 1) and the record expected there, and how it is broken (one of the
// Break* kinds).
type ChainError struct {
	Segment string
	Line    int    // 0 when the break is about the segment as a whole
	Seq     uint64 // the record expected at that place
	Kind    string
	Detail  string
}

func (e *ChainError) Error() string {
	where := e.Segment
	if e.Line > 0 {
		where += fmt.Sprintf(" line %d", e.Line)
	}
	return fmt.Sprintf("audit: record %d (%s): %s: %s", e.Seq, where, e.Kind, e.Detail)
}

// LogSummary describes a verified audit log.
type LogSummary struct {
	Records  uint64 // records in the kept segments
	Segments int
	FirstSeq uint64 // seq of the first kept record (1 unless retention deleted segments)
	HeadSeq  uint64
	HeadHash string // hash of the last record; 64 zeros for an empty log
}

// VerifyLog checks every segment of the audit log in dir: each record's
// hash, the chain from the anchor (or the start) to the last record, the
// sequence numbers, and each sealed segment against its digest. It returns
// a *ChainError naming the first record that breaks the chain. A last
// record cut off in the active segment is reported (BreakTruncated) only
// if it is still cut off a moment later: the archiver may be writing it.
func VerifyLog(dir string) (LogSummary, error) {
	sum, err := walkLog(dir, false, nil)
	var ce *ChainError
	if errors.As(err, &ce) && ce.Kind == BreakTruncated && ce.Line > 0 {
		time.Sleep(100 * time.Millisecond)
		sum, err = walkLog(dir, false, nil)
	}
	return sum, err
}

// WalkLog verifies the log in dir like VerifyLog and calls visit with
// every record, in order, as it is verified; an error from visit stops the
// walk and is returned. It reads a live log: a record being written at the
// end of the active segment is left out, not an error (it is still in the
// outbox too).
func WalkLog(dir string, visit func(optin.AuditRecord) error) (LogSummary, error) {
	return walkLog(dir, true, func(rec optin.AuditRecord, _ recordBody) error { return visit(rec) })
}

// walkLog verifies the log like VerifyLog and calls visit with every
// record, in order, as it is verified. live leaves out a cut-off last line
// of the active segment instead of failing on it.
func walkLog(dir string, live bool, visit func(optin.AuditRecord, recordBody) error) (LogSummary, error) {
	return walkSegments(dir, live, nil, visit)
}

// chain is where a walk along the chain stands.
type chain struct {
	next    uint64 // seq of the next record
	prev    string // hash of the last record
	fence   int64  // highest fencing token so far; tokens never go down
	records uint64
}

// walkSegments walks the log like walkLog, except that a sealed segment
// for whose digest skip returns true is not read: only its digest's place
// in the chain (its prev, first and last seq, and head) is checked.
func walkSegments(dir string, live bool, skip func(*digest) bool, visit func(optin.AuditRecord, recordBody) error) (LogSummary, error) {
	var sum LogSummary
	segs, err := listSegments(dir)
	if err != nil {
		return sum, err
	}
	var anc anchor
	hasAnchor, err := readJSON(filepath.Join(dir, anchorName), &anc)
	if err != nil {
		return sum, err
	}
	c := chain{next: 1, prev: genesis}
	if hasAnchor {
		c.next, c.prev = anc.FirstSeq, anc.Prev
		// Segments below the anchor's are being deleted by retention.
		for len(segs) > 0 && segs[0] < anc.Segment {
			segs = segs[1:]
		}
		if len(segs) > 0 && segs[0] != anc.Segment {
			return sum, &ChainError{Segment: segName(segs[0]), Seq: c.next, Kind: BreakRemoved,
				Detail: fmt.Sprintf("the anchor says the log starts at %s", segName(anc.Segment))}
		}
	}
	sum.FirstSeq = c.next
	for i, n := range segs {
		name := segName(n)
		if i > 0 && n != segs[i-1]+1 {
			return sum, &ChainError{Segment: name, Seq: c.next, Kind: BreakRemoved,
				Detail: fmt.Sprintf("segment %s is missing", segName(segs[i-1]+1))}
		}
		// The digest first: a segment with a digest is complete, and one
		// without may be growing while it is read.
		var dig digest
		sealed, err := readJSON(filepath.Join(dir, digestName(n)), &dig)
		if err != nil {
			return sum, err
		}
		last := i == len(segs)-1
		if !sealed && !last {
			return sum, &ChainError{Segment: name, Seq: c.next, Kind: BreakEdited, Detail: "a sealed segment has no digest file"}
		}
		if sealed && skip != nil && skip(&dig) {
			if dig.Prev != c.prev || dig.FirstSeq != c.next || dig.LastSeq+1 != c.next+dig.Count || dig.Fence < c.fence {
				return sum, &ChainError{Segment: name, Seq: c.next, Kind: BreakEdited, Detail: "the digest does not continue the chain"}
			}
			c.next, c.prev, c.fence, c.records = dig.LastSeq+1, dig.Head, dig.Fence, c.records+dig.Count
		} else {
			var d *digest
			if sealed {
				d = &dig
			}
			if err := verifySegment(dir, name, d, &c, live && last, visit); err != nil {
				return sum, err
			}
		}
		sum.Segments++
	}
	sum.Records, sum.HeadSeq, sum.HeadHash = c.records, c.next-1, c.prev
	return sum, nil
}

// verifySegment verifies the segment name from where c stands, against its
// digest dig when it is sealed (nil otherwise), and moves c to its end.
// liveTail leaves out a cut-off last line.
func verifySegment(dir, name string, dig *digest, c *chain, liveTail bool, visit func(optin.AuditRecord, recordBody) error) error {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return fmt.Errorf("store: verify %s: %w", name, err)
	}
	segFirst, segPrev := c.next, c.prev
	subjects := map[string]bool{}
	lines := splitLines(b)
	for j, ln := range lines {
		next := c.next
		cerr := func(kind, format string, args ...any) error {
			return &ChainError{Segment: name, Line: j + 1, Seq: next, Kind: kind, Detail: fmt.Sprintf(format, args...)}
		}
		if !ln.complete && liveTail && dig == nil {
			break // being written
		}
		if !ln.complete {
			return cerr(BreakTruncated, "the last record is cut off (%d bytes, no newline)", len(ln.raw))
		}
		body, h, err := parseLine(ln.raw)
		if err != nil {
			return cerr(BreakEdited, "%v", err)
		}
		switch {
		case body.Seq > next && seqLater(lines[j+1:], next):
			return cerr(BreakReordered, "found record %d where record %d belongs; record %d comes later", body.Seq, next, next)
		case body.Seq > next:
			return cerr(BreakRemoved, "found record %d where record %d belongs: records %d..%d are missing", body.Seq, next, next, body.Seq-1)
		case body.Seq < next:
			return cerr(BreakReordered, "found record %d after record %d", body.Seq, next-1)
		case body.Prev != c.prev:
			return cerr(BreakEdited, "its prev %.12s… is not the hash %.12s… of record %d", body.Prev, c.prev, next-1)
		case body.Fence < c.fence:
			return cerr(BreakFenced, "written with fencing token %d after a record of token %d: an archiver wrote after losing its lease", body.Fence, c.fence)
		}
		_, subject := eventHead(body.Event)
		subjects[subject] = true
		if visit != nil {
			rec := optin.AuditRecord{Seq: body.Seq, Hash: h, Prev: body.Prev, ArchivedAt: body.ArchivedAt}
			if err := decodeRecord(body.Event, &rec); err != nil {
				return cerr(BreakEdited, "event is not valid: %v", err)
			}
			if err := visit(rec, body); err != nil {
				return err
			}
		}
		c.fence, c.prev = body.Fence, h
		c.next++
		c.records++
	}
	if dig == nil {
		return nil
	}
	count := c.next - segFirst
	derr := func(kind, format string, args ...any) error {
		return &ChainError{Segment: name, Seq: c.next, Kind: kind, Detail: fmt.Sprintf(format, args...)}
	}
	fileSum := sha256.Sum256(b)
	switch {
	case dig.Count > count:
		return derr(BreakTruncated, "the segment ends after record %d but its digest lists %d records, up to record %d", c.next-1, dig.Count, dig.LastSeq)
	case dig.Count < count || dig.Head != c.prev:
		return derr(BreakEdited, "the segment's %d records, ending in %.12s…, do not match its digest (%d records, ending in %.12s…)", count, c.prev, dig.Count, dig.Head)
	case dig.Prev != segPrev:
		return derr(BreakEdited, "the digest's prev does not match the chain")
	case hex.EncodeToString(fileSum[:]) != dig.SHA256:
		return derr(BreakEdited, "the segment's bytes do not match the SHA-256 of its digest")
	case !sameSubjects(subjects, dig.Subjects):
		return derr(BreakEdited, "the digest's list of subscribers does not match the segment's records")
	}
	c.fence = max(c.fence, dig.Fence)
	return nil
}

// eventHead returns an event's id and its subject: tenant/subscriber.
func eventHead(event json.RawMessage) (id, subject string) {
	id, subject, _ = parseEventHead(event)
	return id, subject
}

// parseEventHead is eventHead that also tells whether event is valid JSON
// (json.Unmarshal checks the whole of it before it decodes, and fails with
// a SyntaxError if it is not), so that the archiver scans it once. When
// it is not, id and subject are eventHead's of a head with no fields.
func parseEventHead(event json.RawMessage) (id, subject string, valid bool) {
	var head struct {
		ID         string `json:"id"`
		Tenant     string `json:"tenant"`
		Subscriber string `json:"subscriber"`
	}
	var syntax *json.SyntaxError
	valid = !errors.As(json.Unmarshal(event, &head), &syntax)
	return head.ID, subjectOf(head.Tenant, head.Subscriber), valid
}

// decodeRecord decodes what an outbox entry held into rec: a transition
// (optin.Event), a delivery record (optin.Delivery, "kind":"delivery"), a
// configuration change (optin.ConfigChange, "kind":"config") or an access
// entry (optin.AccessEntry, "kind":"access").
func decodeRecord(raw json.RawMessage, rec *optin.AuditRecord) error {
	if len(raw) > 0 && raw[0] == '"' {
		return nil // an entry that was no JSON, kept as a string
	}
	var kind struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(raw, &kind); err != nil {
		return err
	}
	var err error
	switch kind.Kind {
	case "delivery":
		rec.Delivery, err = decodeKind(raw, &rec.Event, func(d *optin.Delivery) optin.Event {
			return optin.Event{Tenant: d.Tenant, Subscriber: d.Subscriber, At: d.At}
		})
	case "config":
		rec.Config, err = decodeKind(raw, &rec.Event, func(c *optin.ConfigChange) optin.Event {
			return optin.Event{ID: c.ID, Tenant: c.Tenant, At: c.At}
		})
	case "access":
		rec.Access, err = decodeKind(raw, &rec.Event, func(a *optin.AccessEntry) optin.Event {
			return optin.Event{ID: a.ID, Tenant: a.Tenant, At: a.At}
		})
	default:
		err = json.Unmarshal(raw, &rec.Event)
	}
	return err
}

// decodeKind decodes raw as a T and sets *ev to event of it; it leaves
// *ev as it was when raw does not decode.
func decodeKind[T any](raw json.RawMessage, ev *optin.Event, event func(*T) optin.Event) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, err
	}
	*ev = event(v)
	return v, nil
}

// outboxPayload returns what an outbox entry holds: an event (field "e"),
// a delivery record ("d"), a configuration change ("c") or an access entry
// ("a").
func outboxPayload(values map[string]any) string {
	for _, f := range []string{"e", "d", "c", "a"} {
		if raw, ok := values[f].(string); ok {
			return raw
		}
	}
	return ""
}

// subjectOf names a subscriber of a tenant in a digest's Subjects.
func subjectOf(tenant, subscriber string) string { return tenant + "/" + subscriber }

func sameSubjects(set map[string]bool, list []string) bool {
	if len(set) != len(list) {
		return false
	}
	for _, s := range list {
		if !set[s] {
			return false
		}
	}
	return true
}

// seqLater reports whether a record with seq appears in lines.
func seqLater(lines []segLine, seq uint64) bool {
	for _, ln := range lines {
		if body, _, err := parseLine(ln.raw); err == nil && body.Seq == seq {
			return true
		}
	}
	return false
}
