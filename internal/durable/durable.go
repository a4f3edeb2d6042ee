// Package durable writes files so that they survive a crash: the data and
// the directory entry are fsync'd before a write counts as done.
package durable

import (
	"os"
	"path/filepath"
)

// SyncDir fsyncs directory dir, so that a file created, renamed or removed
// in it stays so after a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// WriteFile replaces the file at path with b atomically: it writes a
// temporary file beside it (mode 0600), fsyncs it, renames it over path
// and fsyncs the directory. A crash leaves the old file or the new one,
// never a part of either.
func WriteFile(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = SyncDir(filepath.Dir(path))
	}
	return err
}
