// Package spool is a local, append-only, fsync'd log of records that must
// not be lost while Redis is unreachable: the gateway writes a revocation
// (STOP) into it when it cannot reach the store, answers the person, and
// applies the record when Redis is back.
//
// A spool is a directory. New records go to the file "current", one record
// per line, each line encrypted and authenticated (AES-256-GCM under a key
// derived from the newest of the gateway's master keys, the line tagged
// with that key's id, so that keys can rotate) and fsync'd before Append
// returns. Replay moves "current" aside as a batch, hands each record of
// each batch to a function in the order they were written, and deletes a
// batch once every record in it has been handled; a batch whose replay
// fails stays and is replayed again, from its start, next time. Records
// must therefore be idempotent to apply (the gateway's are: the provider's
// message id is their idempotency key).
package spool

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/optin-gateway/optin-gateway/internal/durable"
)

const (
	currentName = "current"
	batchPrefix = "batch-"
	lineVersion = "v1:" // untagged lines of the single-key spool, still read
	lineTagged  = "v2:" // "v2:<key id>:<base64>"
	// MaxRecord bounds one record's size, before encryption.
	MaxRecord = 64 << 10
)

// Spool is an append-only spool in one directory. It is safe for
// concurrent use; one process at a time may use a directory.
type Spool struct {
	dir  string
	keys []spoolKey // newest first; new lines are sealed under keys[0]

	mu   sync.Mutex // guards cur and serialises appends and rotations
	cur  file       // nil until the first Append after Open or a rotation
	size int64      // cur's last good size: the end of its last complete, fsync'd line
	// doubt: "current" may end, after size bytes, in bytes of a failed
	// append that could not be cut back; it is set aside before anything
	// else is written, as a batch that is replayed up to size only.
	doubt bool

	// openFile opens "current" for appending: openAppend, or in tests a
	// file whose writes fail.
	openFile func() (file, error)

	replay sync.Mutex // one Replay at a time
}

// Key is one master key of the gateway, with the id it is configured
// under.
type Key struct {
	ID  string
	Key []byte
}

type spoolKey struct {
	id   string
	aead cipher.AEAD
}

// Open opens (creating it, mode 0700) the spool in dir. key is the
// gateway's master key; the spool derives its own encryption key from it,
// so the same master key must be used to replay what was spooled. It is
// OpenKeys with key alone, under the id "k0".
func Open(dir string, key []byte) (*Spool, error) {
	return OpenKeys(dir, []Key{{ID: "k0", Key: key}})
}

// OpenKeys is Open with several master keys, newest first: new lines are
// sealed under the newest and tagged with its id; a line is opened under
// the key its tag names (an untagged line of an older spool, under any).
func OpenKeys(dir string, keys []Key) (*Spool, error) {
	if len(keys) == 0 {
		return nil, errors.New("spool: no key")
	}
	s := &Spool{dir: dir}
	s.openFile = s.openAppend
	for _, k := range keys {
		if len(k.Key) < 32 {
			return nil, fmt.Errorf("spool: key %s of %d bytes; want at least 32", k.ID, len(k.Key))
		}
		if k.ID == "" || strings.ContainsAny(k.ID, ":\n") {
			return nil, fmt.Errorf("spool: key id %q", k.ID)
		}
		mac := hmac.New(sha256.New, k.Key)
		mac.Write([]byte("optin-gateway spool v1"))
		block, err := aes.NewCipher(mac.Sum(nil))
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		s.keys = append(s.keys, spoolKey{id: k.ID, aead: aead})
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: open %s: %w", dir, err)
	}
	return s, nil
}

// Dir returns the spool's directory.
func (s *Spool) Dir() string { return s.dir }

// Append writes record as one encrypted line and fsyncs it before it
// returns: when Append returns nil, the record survives a crash of the
// process or the machine.
func (s *Spool) Append(record []byte) error {
	if len(record) > MaxRecord {
		return fmt.Errorf("spool: append: record of %d bytes; the limit is %d", len(record), MaxRecord)
	}
	k := s.keys[0]
	tag := lineTagged + k.id + ":"
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(record)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("spool: append: %w", err)
	}
	sealed := k.aead.Seal(nonce, nonce, record, []byte(tag))
	line := make([]byte, 0, len(tag)+base64.RawStdEncoding.EncodedLen(len(sealed))+1)
	line = append(line, tag...)
	line = base64.RawStdEncoding.AppendEncode(line, sealed)
	line = append(line, '\n')

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		if err := s.openCurrent(); err != nil {
			return fmt.Errorf("spool: append: %w", err)
		}
	}
	_, err := s.cur.Write(line)
	if err == nil {
		if err = s.cur.Sync(); err != nil {
			err = fmt.Errorf("fsync: %w", err)
		}
	}
	if err != nil {
		// Nothing is ever written after the bytes of a failed line: cut
		// the file back to its last good size or, failing that, set it
		// aside, so that the next record starts a line of its own.
		if cerr := s.cutBack(); cerr != nil {
			err = fmt.Errorf("%w (cutting the file back: %w)", err, cerr)
		}
		return fmt.Errorf("spool: append: %w", err)
	}
	s.size += int64(len(line))
	return nil
}

// openCurrent opens "current" for appending. A file that may end in the
// bytes of a failed append (one that could not be cut back) or that ends
// in a line torn by a crash (neither was acknowledged) is first set aside
// as a batch, so that no record is ever written after torn bytes; replay
// counts such a batch's unterminated last line as torn. s.mu is held.
func (s *Spool) openCurrent() error {
	if s.doubt {
		if err := s.setAside(); err != nil {
			return err
		}
	}
	for range 2 {
		f, err := s.openFile()
		if err != nil {
			return err
		}
		// The file's name must survive a crash too.
		var size int64
		torn := false
		err = durable.SyncDir(s.dir)
		if err == nil {
			size, torn, err = tailState(f)
		}
		if err == nil && !torn {
			s.cur, s.size = f, size
			return nil
		}
		f.Close()
		if err != nil {
			return err
		}
		if err := s.setAside(); err != nil {
			return err
		}
	}
	return errors.New("a torn current file set aside came back")
}

// cutBack undoes a failed append: it truncates "current" to its last good
// size (the end of the last complete, fsync'd line) and fsyncs it. When
// that fails the file is closed and set aside (or, if that fails too,
// marked to be set aside before the next append), and the next Append
// opens a fresh one. s.mu is held.
func (s *Spool) cutBack() error {
	err := s.cur.Truncate(s.size)
	if err == nil {
		err = s.cur.Sync()
	}
	if err == nil {
		return nil
	}
	_ = s.cur.Close() // its acknowledged lines were fsync'd; its tail is in doubt
	s.cur, s.doubt = nil, true
	if serr := s.setAside(); serr != nil {
		return errors.Join(err, fmt.Errorf("set aside: %w", serr))
	}
	return err
}

// setAside renames a non-empty "current" to a new batch,
// "batch-<time>", or "batch-<time>-<size>" when s.doubt: only its first
// size bytes were acknowledged. s.mu is held and the file is closed.
func (s *Spool) setAside() error {
	path := filepath.Join(s.dir, currentName)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Size() == 0) {
		s.doubt = false
		return nil
	}
	if err != nil {
		return err
	}
	var name string
	for at := time.Now().UnixNano(); ; at++ { // never over an older batch
		name = fmt.Sprintf("%s%020d", batchPrefix, at)
		if s.doubt {
			name += "-" + strconv.FormatInt(s.size, 10)
		}
		if _, err := os.Lstat(filepath.Join(s.dir, name)); err != nil {
			break // not there (or unknown: Rename will say)
		}
	}
	if err := os.Rename(path, filepath.Join(s.dir, name)); err != nil {
		return err
	}
	s.doubt = false
	return durable.SyncDir(s.dir)
}

// Stats says what a Replay did.
type Stats struct {
	Applied int // records handed to the function without error
	Corrupt int // complete lines skipped: under a key no longer configured, or damaged
	Torn    int // unterminated last lines of a batch skipped: writes cut short, never acknowledged
	Left    int // batches left for the next Replay because the function failed
}

// Replay hands every spooled record to apply, oldest first. A batch is
// deleted once apply has returned nil for all its records; when apply
// returns an error, Replay stops and returns it, and that batch (and any
// later one) is replayed from its start next time. An unterminated last
// line, the end of a write cut short by a full disk or a crash (never
// acknowledged), is skipped and counted in Stats.Torn; a complete line
// that cannot be decrypted (another key, damage) is skipped and counted
// in Stats.Corrupt.
func (s *Spool) Replay(apply func(record []byte) error) (Stats, error) {
	s.replay.Lock()
	defer s.replay.Unlock()
	var st Stats
	if err := s.rotate(); err != nil {
		return st, err
	}
	batches, err := s.batches()
	if err != nil {
		return st, err
	}
	for i, b := range batches {
		if err := s.replayBatch(b, apply, &st); err != nil {
			st.Left = len(batches) - i
			return st, err
		}
	}
	return st, nil
}

// Pending reports whether records wait for a Replay.
func (s *Spool) Pending() (bool, error) {
	batches, err := s.batches()
	if err != nil || len(batches) > 0 {
		return len(batches) > 0, err
	}
	fi, err := os.Stat(filepath.Join(s.dir, currentName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("spool: %w", err)
	}
	return fi.Size() > 0, nil
}

// Close closes the file being appended to.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return nil
	}
	err := s.cur.Close()
	s.cur = nil
	return err
}

// rotate renames a non-empty "current" to a new batch, so that appends go
// on into a fresh file while the batch is replayed.
func (s *Spool) rotate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		err := s.cur.Close()
		s.cur = nil
		if err != nil {
			return fmt.Errorf("spool: rotate: %w", err)
		}
	}
	if err := s.setAside(); err != nil {
		return fmt.Errorf("spool: rotate: %w", err)
	}
	return nil
}

// batches returns the batch files, oldest first.
func (s *Spool) batches() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var out []string
	for _, e := range entries {
		if rest, ok := strings.CutPrefix(e.Name(), batchPrefix); ok && e.Type().IsRegular() {
			if _, _, ok := parseBatch(rest); ok {
				out = append(out, e.Name())
			}
		}
	}
	slices.Sort(out) // fixed-width numbers: name order is time order
	return out, nil
}

// parseBatch parses what follows "batch-" in a batch's name: its time
// and, after a dash, how many of its bytes were acknowledged (-1: all).
func parseBatch(rest string) (at, good int64, ok bool) {
	t, g, limited := strings.Cut(rest, "-")
	at, err := strconv.ParseInt(t, 10, 64)
	if err != nil || at < 0 {
		return 0, 0, false
	}
	if !limited {
		return at, -1, true
	}
	good, err = strconv.ParseInt(g, 10, 64)
	return at, good, err == nil && good >= 0
}

func (s *Spool) replayBatch(name string, apply func([]byte) error, st *Stats) error {
	path := filepath.Join(s.dir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("spool: replay %s: %w", name, err)
	}
	if _, good, _ := parseBatch(strings.TrimPrefix(name, batchPrefix)); good >= 0 && good < int64(len(data)) {
		// The bytes of a failed append that could not be cut back.
		data = data[:good]
		st.Torn++
	}
	for len(data) > 0 {
		line, rest, complete := bytes.Cut(data, []byte("\n"))
		data = rest
		if !complete {
			// The unterminated end of a write cut short (a full disk that
			// could not be cut back, a crash): never acknowledged, since
			// Append returns only once the whole line is fsync'd.
			st.Torn++
			break
		}
		record, ok := s.open(line)
		if !ok {
			st.Corrupt++
			continue
		}
		if err := apply(record); err != nil {
			return fmt.Errorf("spool: replay %s: %w", name, err)
		}
		st.Applied++
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("spool: replay %s: %w", name, err)
	}
	return durable.SyncDir(s.dir)
}

// open decrypts one line.
func (s *Spool) open(line []byte) ([]byte, bool) {
	if rest, ok := bytes.CutPrefix(line, []byte(lineTagged)); ok {
		id, b64, ok := bytes.Cut(rest, []byte(":"))
		if !ok {
			return nil, false
		}
		for _, k := range s.keys {
			if k.id == string(id) {
				return openWith(k.aead, b64, line[:len(lineTagged)+len(id)+1])
			}
		}
		return nil, false
	}
	b64, ok := bytes.CutPrefix(line, []byte(lineVersion))
	if !ok {
		return nil, false
	}
	for _, k := range s.keys {
		if record, ok := openWith(k.aead, b64, []byte(lineVersion)); ok {
			return record, true
		}
	}
	return nil, false
}

// openWith decrypts the base64 of a nonce and ciphertext bound to ad.
func openWith(aead cipher.AEAD, b64, ad []byte) ([]byte, bool) {
	sealed, err := base64.RawStdEncoding.AppendDecode(nil, b64)
	n := aead.NonceSize()
	if err != nil || len(sealed) < n {
		return nil, false
	}
	record, err := aead.Open(nil, sealed[:n], sealed[n:], ad)
	return record, err == nil
}

// file is what Append needs of the file it appends to.
type file interface {
	Write(b []byte) (int, error)
	ReadAt(b []byte, off int64) (int, error)
	Sync() error
	Truncate(size int64) error
	Stat() (fs.FileInfo, error)
	Close() error
}

// openAppend opens (creating it) the file "current" for appending.
func (s *Spool) openAppend() (file, error) {
	return os.OpenFile(filepath.Join(s.dir, currentName), os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
}

// tailState returns the size of f and whether its last line is
// unterminated (torn).
func tailState(f file) (int64, bool, error) {
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return 0, false, err
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, fi.Size()-1); err != nil {
		return 0, false, err
	}
	return fi.Size(), last[0] != '\n', nil
}
