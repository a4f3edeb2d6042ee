package main

import (
	"strings"
	"testing"
)

func TestLoggerBuffersInfoAndFlushesErrors(t *testing.T) {
	var out syncBuffer
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
