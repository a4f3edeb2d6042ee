package store_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

// BenchmarkCacheMemory reports what one cached subscriber (one campaign,
// a pending code) costs in heap: bytes and objects, which the garbage
// collector marks on every cycle.
//
//	go test -run '^$' -bench CacheMemory -benchtime 2000x ./store/
func BenchmarkCacheMemory(b *testing.B) {
	srv := redistest.Start(b)
	st := openInstances(b, srv, 1)[0].st
	n := testNumber(b)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := range b.N {
		handle(b, st, n, optin.Phone(fmt.Sprintf("+1%03d555%04d", 202+i/10000, i%10000)), fmt.Sprintf("SM%d", i), "JOIN")
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N), "heap-bytes/subscriber")
	b.ReportMetric(float64(after.HeapObjects-before.HeapObjects)/float64(b.N), "heap-objects/subscriber")
	runtime.KeepAlive(st)
}
