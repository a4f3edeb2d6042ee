package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ExampleVerifyLog writes two records as the archiver does, verifies them,
// then edits one byte and verifies again.
func ExampleVerifyLog() {
	dir, err := os.MkdirTemp("", "audit")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	var seg []byte
	prev := genesis
	for i, ev := range []string{
		`{"id":"twilio:SM1:deals:0","from":"none","to":"pending"}`,
		`{"id":"twilio:SM2:deals:0","from":"pending","to":"subscribed"}`,
	} {
		line, hash, err := encodeRecord(recordBody{
			Seq: uint64(i + 1), Prev: prev, Fence: 1, Entry: fmt.Sprintf("1795000000000-%d", i),
			ArchivedAt: time.Date(2026, 11, 23, 12, 0, i, 0, time.UTC), Event: json.RawMessage(ev),
		})
		if err != nil {
			panic(err)
		}
		seg, prev = append(seg, line...), hash
	}
	path := filepath.Join(dir, segName(1))
	if err := os.WriteFile(path, seg, 0o600); err != nil {
		panic(err)
	}
	sum, err := VerifyLog(dir)
	fmt.Println(sum.Records, "records, head", sum.HeadHash[:12], err)

	seg[bytes.LastIndex(seg, []byte("subscribed"))] = 'S' // subscribed → Subscribed
	if err := os.WriteFile(path, seg, 0o600); err != nil {
		panic(err)
	}
	_, err = VerifyLog(dir)
	fmt.Println(err)
	// Output:
	// 2 records, head 860e8ae51261 <nil>
	// audit: record 2 (seg-000000000001.log line 2): edited: its hash does not match its contents
}
