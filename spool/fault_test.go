package spool

import (
	"crypto/rand"
	"io/fs"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
)

// disk decides how the files a spool opens through it fail: a write
// stops after free bytes (those reach the file, the rest fail with
// ENOSPC, as on a full disk); syncFails fsyncs fail; truncateFails every
// Truncate fails.
type disk struct {
	mu            sync.Mutex
	free          int64 // < 0: no limit
	syncFails     int   // the next syncFails fsyncs fail
	truncateFails bool
}

// open opens s's "current", failing as d says.
func (d *disk) open(s *Spool) (file, error) {
	f, err := s.openAppend()
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: f.(*os.File), d: d}, nil
}

// faultyFile is a real file whose writes, fsyncs and truncations fail as
// its disk says.
type faultyFile struct {
	*os.File
	d *disk
}

func (f *faultyFile) Write(b []byte) (int, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if f.d.free < 0 || int64(len(b)) <= f.d.free {
		n, err := f.File.Write(b)
		if f.d.free >= 0 {
			f.d.free -= int64(n)
		}
		return n, err
	}
	n, err := f.File.Write(b[:f.d.free])
	f.d.free -= int64(n)
	if err == nil {
		err = &fs.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return n, err
}

func (f *faultyFile) Sync() error {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if f.d.syncFails > 0 {
		f.d.syncFails--
		return &fs.PathError{Op: "sync", Path: f.Name(), Err: syscall.EIO}
	}
	return f.File.Sync()
}

func (f *faultyFile) Truncate(size int64) error {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if f.d.truncateFails {
		return &fs.PathError{Op: "truncate", Path: f.Name(), Err: syscall.EIO}
	}
	return f.File.Truncate(size)
}

// lineLen is the length of the spool line of a record of n bytes.
func lineLen(s *Spool, n int) int {
	k := s.keys[0]
	sealed := k.aead.NonceSize() + n + k.aead.Overhead()
	return len(lineTagged+k.id+":") + (sealed*8+5)/6 + 1
}

// TestSpoolAppendFailureNeverMergesLines: a STOP whose line is written only
// in part (a full disk) or not fsync'd fails its Append (the gateway
// answers 503); the STOPs appended once the disk works again succeed (the
// gateway answers 200) and every one of them is replayed; the failed one
// is not, and no acknowledged line is lost as corrupt. On the old code a
// failed write left its torn bytes in the file and the next line ran on
// after them: one undecryptable line, an acknowledged STOP lost.
func TestSpoolAppendFailureNeverMergesLines(t *testing.T) {
	const (
		a = "STOP from +12025550160, message SMa"
		b = "STOP from +12025550161, message SMb"
		c = "STOP from +12025550162, message SMc"
	)
	tests := []struct {
		name          string
		free          func(line int) int64 // bytes of A's line that reach the disk
		syncFails     int
		truncateFails bool
	}{
		{"full disk: nothing of the line written", func(int) int64 { return 0 }, 0, false},
		{"full disk: one byte written", func(int) int64 { return 1 }, 0, false},
		{"full disk: half the line written", func(l int) int64 { return int64(l / 2) }, 0, false},
		{"full disk: all but the newline written", func(l int) int64 { return int64(l - 1) }, 0, false},
		{"fsync fails after the whole line was written", func(int) int64 { return -1 }, 1, false},
		{"full disk, and cutting the file back fails too", func(l int) int64 { return int64(l / 2) }, 0, true},
		{"all but the newline written, cutting back fails", func(l int) int64 { return int64(l - 1) }, 0, true},
		{"fsync fails, cutting back fails", func(int) int64 { return -1 }, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := make([]byte, 32)
			rand.Read(key)
			s, err := Open(t.TempDir(), key)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			d := &disk{free: -1}
			s.openFile = func() (file, error) { return d.open(s) }
			if err := s.Append([]byte("an earlier STOP")); err != nil {
				t.Fatalf("Append before the fault: %v", err)
			}

			d.mu.Lock()
			d.free, d.syncFails, d.truncateFails = tt.free(lineLen(s, len(a))), tt.syncFails, tt.truncateFails
			d.mu.Unlock()
			if err := s.Append([]byte(a)); err == nil {
				t.Fatal("Append(A) on a failing disk = nil; want an error (the gateway answers 503)")
			}

			// Space is back; cutting back may still fail.
			d.mu.Lock()
			d.free, d.syncFails = -1, 0
			d.mu.Unlock()
			for _, r := range []string{b, c} {
				if err := s.Append([]byte(r)); err != nil {
					t.Fatalf("Append(%q) after the disk recovered: %v; want nil (the gateway answers 200)", r, err)
				}
			}

			got, st := Collect(t, s)
			if want := []string{"an earlier STOP", b, c}; !slices.Equal(got, want) {
				t.Errorf("Replay = %q, %+v; want %q: every acknowledged STOP, not the failed one", got, st, want)
			}
			if st.Corrupt != 0 {
				t.Errorf("Replay stats %+v; want no corrupt line", st)
			}
		})
	}
}
