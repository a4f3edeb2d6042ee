package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkArchiverThroughput measures how many events per second the
// archiver moves from the outbox streams (16 shards) into the audit log,
// fsync included: b.N events wait in the streams, the timer runs until
// they are all fsync'd.
func BenchmarkArchiverThroughput(b *testing.B) {
	st, _ := newTestStore(b, DefaultShards)
	for i := 0; i < b.N; i += 5000 {
		addEvents(b, st, i, min(i+5000, b.N))
	}
	dir := filepath.Join(b.TempDir(), "audit")
	var fsyncs, records int
	done := make(chan struct{})
	finished := done
	opts := ArchiverOptions{Dir: dir, LeaseTTL: time.Second, PollInterval: time.Millisecond,
		OnCommit: func(c Commit) {
			fsyncs++
			records += c.Records
			if records >= b.N && fsyncs > 0 && done != nil {
				close(done)
				done = nil
			}
		}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ResetTimer()
	start := time.Now()
	errc := make(chan error, 1)
	go func() { errc <- st.NewArchiver(opts).Run(ctx) }()
	<-finished
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/float64(fsyncs), "events/fsync")
}
