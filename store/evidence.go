package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/optin-gateway/optin-gateway/optin"
)

// AuditLog reads the durable audit log in a directory, together with the
// outbox streams of the Store that feeds it. It is safe for concurrent use;
// it only reads.
type AuditLog struct {
	st        *Store
	dir       string
	retention time.Duration // of sealed segments, for Export; 0: unknown
}

// AuditLog returns the audit log in dir (OPTIN_DATA_DIR/audit) fed by s.
func (s *Store) AuditLog(dir string) *AuditLog { return &AuditLog{st: s, dir: dir} }

// Evidence returns the consent record of phone under tenant: it verifies
// the chain while collecting the subscriber's records, then adds the
// subscriber's events still waiting in the outbox stream. Every segment
// that holds a record of the subscriber, and the active segment, is
// verified record by record; the other sealed segments are checked by
// their digests' place in the chain (audit verify reads them all). A
// broken chain is an error (a *ChainError): evidence is only given from a
// verified log. A log that does not exist yet counts as empty.
func (l *AuditLog) Evidence(ctx context.Context, tenant string, phone optin.Phone) (optin.Evidence, error) {
	id := l.st.pseudonyms.Pseudonym(tenant, phone)
	ev := optin.Evidence{Tenant: tenant, Subscriber: id, Records: []optin.AuditRecord{}, Pending: []optin.Event{}}
	archived := map[archiveKey]bool{}
	subject := subjectOf(tenant, id)
	notHere := func(d *digest) bool {
		_, found := slices.BinarySearch(d.Subjects, subject)
		return !found
	}
	sum, err := walkSegments(l.dir, true, notHere, func(rec optin.AuditRecord, body recordBody) error {
		if rec.Event.Tenant == tenant && rec.Event.Subscriber == id {
			ev.Records = append(ev.Records, rec)
			archived[entryKey(body.Shard, body.Entry, rec.Event.ID)] = true
		}
		return ctx.Err()
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return ev, fmt.Errorf("store: evidence %s: %w", id, err)
	}
	ev.HeadSeq, ev.HeadHash, ev.ChainRecords = sum.HeadSeq, sum.HeadHash, sum.Records
	if ev.HeadHash == "" {
		ev.HeadHash = genesis
	}
	shard := shardOf(id, l.st.shards)
	key := OutboxKey(shard)
	msgs, err := l.st.rdb.XRange(ctx, key, "-", "+").Result()
	if err != nil {
		return ev, translate("evidence "+key, err)
	}
	dk, err := l.st.existingDataKey(tenant, id, l.st.rdb.Get(ctx, dataKeyKey(shard, tenant, id)))
	if err != nil {
		return ev, err
	}
	for i := range ev.Records {
		ev.Records[i].Event = openEvent(dk, ev.Records[i].Event)
	}
	for _, m := range msgs {
		raw, ok := m.Values["e"].(string) // deliveries wait for the archive
		if !ok {
			continue
		}
		var e optin.Event
		if json.Unmarshal([]byte(raw), &e) != nil || e.Tenant != tenant || e.Subscriber != id || archived[entryKey(shard, m.ID, e.ID)] {
			continue
		}
		ev.Pending = append(ev.Pending, openEvent(dk, e))
	}
	return ev, nil
}

// Head returns the last record the archiver reported fsync'd, as kept in
// Redis: seq 0 when none is recorded. Comparing it with the log's own head
// shows a log cut short at a record boundary.
func (l *AuditLog) Head(ctx context.Context) (uint64, string, error) {
	v, err := l.st.rdb.Get(ctx, auditHeadKey()).Result()
	if err != nil {
		err = translate("audit head", err)
		if errors.Is(err, optin.ErrNotFound) {
			return 0, "", nil
		}
		return 0, "", err
	}
	seqText, hash, _ := strings.Cut(v, " ")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("store: audit head %q: %w", v, err)
	}
	return seq, hash, nil
}

// Verify verifies the log like VerifyLog, then checks it against the head
// recorded in Redis: a log that ends before that head was cut short (a
// *ChainError of kind BreakTruncated). When Redis cannot be reached the
// file check alone is returned with the error of the Redis check.
func (l *AuditLog) Verify(ctx context.Context) (LogSummary, error) {
	sum, err := VerifyLog(l.dir)
	if err != nil {
		return sum, err
	}
	seq, hash, err := l.Head(ctx)
	if err != nil {
		return sum, err
	}
	if seq > sum.HeadSeq {
		return sum, &ChainError{Segment: "(end of log)", Seq: sum.HeadSeq + 1, Kind: BreakTruncated,
			Detail: fmt.Sprintf("the log ends at record %d but the archiver fsync'd up to record %d (%.12s…)", sum.HeadSeq, seq, hash)}
	}
	if seq == sum.HeadSeq && seq > 0 && hash != sum.HeadHash {
		return sum, &ChainError{Segment: "(end of log)", Seq: seq, Kind: BreakEdited,
			Detail: fmt.Sprintf("the last record's hash %.12s… is not the %.12s… the archiver fsync'd", sum.HeadHash, hash)}
	}
	return sum, nil
}

// ArchiverLease returns the fencing token of the archiver that holds the
// lease, 0 when none does.
func (s *Store) ArchiverLease(ctx context.Context) (int64, error) {
	v, err := s.rdb.Get(ctx, leaseKey()).Int64()
	if err != nil {
		err = translate("archiver lease", err)
		if errors.Is(err, optin.ErrNotFound) {
			return 0, nil
		}
		return 0, err
	}
	return v, nil
}

// Check is Verify as a status: a chain that does not verify is not an
// error but a status with OK false and the problem; only a failure to
// read the log or to reach Redis is an error.
func (l *AuditLog) Check(ctx context.Context) (optin.ChainStatus, error) {
	sum, err := l.Verify(ctx)
	st := optin.ChainStatus{OK: err == nil, Records: sum.Records, HeadSeq: sum.HeadSeq, HeadHash: sum.HeadHash}
	if st.HeadHash == "" {
		st.HeadHash = genesis
	}
	var ce *ChainError
	switch {
	case errors.As(err, &ce):
		st.Problem = ce.Error()
		return st, nil
	case errors.Is(err, fs.ErrNotExist):
		return optin.ChainStatus{OK: true, HeadHash: genesis}, nil
	}
	return st, err
}
