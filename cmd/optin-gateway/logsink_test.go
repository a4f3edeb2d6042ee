package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a bytes.Buffer safe for the sink's flushing goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestLoggerBuffersInfoAndFlushesErrors(t *testing.T) {
	var out lockedBuffer
	log, stop, err := newLogger("json", "info", &out)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	log.Info("request")
	if got := out.String(); got != "" {
		t.Fatalf("after Info, output = %q; want it still buffered", got)
	}
	log.Error("redis down")
	got := out.String()
	if !strings.Contains(got, `"msg":"request"`) || !strings.Contains(got, `"msg":"redis down"`) {
		t.Fatalf("after Error, output = %q; want both lines, in order", got)
	}
	log.Info("last")
	if err := log.Sync(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"msg":"last"`) {
		t.Fatalf("after Sync, output = %q; want the last line", out.String())
	}
}
