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
	"bufio"
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

	mu  sync.Mutex // guards cur and serialises appends and rotations
	cur file       // nil until the first Append after Open or a rotation

	// openFile opens "current" for appending: os.OpenFile, or in tests a
	// file whose writes fail.
	openFile func(path string) (file, error)

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
	s := &Spool{dir: dir, openFile: openAppend}
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
		f, err := s.openFile(filepath.Join(s.dir, currentName))
		if err != nil {
			return fmt.Errorf("spool: append: %w", err)
		}
		// The file's name must survive a crash too, and a line torn by
		// one (never acknowledged) must not swallow the next record.
		err = durable.SyncDir(s.dir)
		if err == nil {
			err = endTornLine(f)
		}
		if err != nil {
			f.Close()
			return fmt.Errorf("spool: append: %w", err)
		}
		s.cur = f
	}
	if _, err := s.cur.Write(line); err != nil {
		return fmt.Errorf("spool: append: %w", err)
	}
	if err := s.cur.Sync(); err != nil {
		return fmt.Errorf("spool: append: fsync: %w", err)
	}
	return nil
}

// Stats says what a Replay did.
type Stats struct {
	Applied int // records handed to the function without error
	Corrupt int // lines skipped: not decryptable with this key, or torn
	Left    int // batches left for the next Replay because the function failed
}

// Replay hands every spooled record to apply, oldest first. A batch is
// deleted once apply has returned nil for all its records; when apply
// returns an error, Replay stops and returns it, and that batch (and any
// later one) is replayed from its start next time. A line that cannot be
// decrypted, such as the last line of a write torn by a crash (which was
// never acknowledged), is skipped and counted in Stats.Corrupt.
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
	path := filepath.Join(s.dir, currentName)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Size() == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("spool: rotate: %w", err)
	}
	if s.cur != nil {
		if err := s.cur.Close(); err != nil {
			return fmt.Errorf("spool: rotate: %w", err)
		}
		s.cur = nil
	}
	name := fmt.Sprintf("%s%020d", batchPrefix, time.Now().UnixNano())
	if err := os.Rename(path, filepath.Join(s.dir, name)); err != nil {
		return fmt.Errorf("spool: rotate: %w", err)
	}
	if err := durable.SyncDir(s.dir); err != nil {
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
			if _, err := strconv.ParseUint(rest, 10, 64); err == nil {
				out = append(out, e.Name())
			}
		}
	}
	slices.Sort(out) // fixed-width numbers: name order is time order
	return out, nil
}

func (s *Spool) replayBatch(name string, apply func([]byte) error, st *Stats) error {
	path := filepath.Join(s.dir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("spool: replay %s: %w", name, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 2*MaxRecord+1024)
	for sc.Scan() {
		record, ok := s.open(sc.Bytes())
		if !ok {
			st.Corrupt++
			continue
		}
		if err := apply(record); err != nil {
			return fmt.Errorf("spool: replay %s: %w", name, err)
		}
		st.Applied++
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("spool: replay %s: %w", name, err)
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

// openAppend opens (creating it) the file at path for appending.
func openAppend(path string) (file, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
}

// endTornLine appends a newline to f when its last line is unterminated.
func endTornLine(f file) error {
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return err
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, fi.Size()-1); err != nil {
		return err
	}
	if last[0] == '\n' {
		return nil
	}
	_, err = f.Write([]byte{'\n'})
	return err
}
