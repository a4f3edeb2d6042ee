package store

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// checkRecordJSON fails t unless appendRecordJSON, when it takes body,
// writes what json.Marshal does, and parseEventHead tells valid JSON as
// json.Valid does.
func checkRecordJSON(t *testing.T, body recordBody) {
	t.Helper()
	if _, _, valid := parseEventHead(body.Event); valid != json.Valid(body.Event) {
		t.Fatalf("parseEventHead(%q): valid %v, json.Valid says otherwise", body.Event, valid)
	}
	if !json.Valid(body.Event) {
		body.Event, _ = json.Marshal(string(body.Event)) // as the archiver keeps it
	}
	want, err := json.Marshal(body)
	got, ok := appendRecordJSON(nil, body)
	if !ok {
		return
	}
	if err != nil {
		t.Fatalf("appendRecordJSON took a record json.Marshal refuses (%v): %s", err, got)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("appendRecordJSON:\n got %s\nwant %s", got, want)
	}
}

// TestRecordJSONMatchesMarshal: the audit log's lines are the bytes their
// hashes are of, so the fast way must write json.Marshal's bytes exactly.
func TestRecordJSONMatchesMarshal(t *testing.T) {
	at := time.Date(2026, 12, 4, 19, 14, 49, 873377595, time.UTC)
	events := []string{
		`{"kind":"transition","id":"ev:1","tenant":"demo","subscriber":"ab12","to":"pending"}`,
		`{"id":"x","text":"enc:AAAA+/=="}`, `{"id":"x","prompt":"a b"}`, `{ "id" : "x" }`,
		`{"id":"\u003c\u0026"}`, `{"id":"<&>"}`, "{\"id\":\"\u2028\"}", "{\"id\":\"\xe2\x82\xac\"}",
		`"a string"`, `[1,2]`, `null`, `{"id":"x"`, ``, `{"id":"x"} `, "{\"id\":\"\xff\"}",
	}
	bodies := []recordBody{
		{Seq: 1, Prev: "0000", Fence: 1, Shard: 16, Entry: "1796411689871-0", ArchivedAt: at},
		{Seq: 1 << 63, Prev: "", Fence: -3, Shard: 0, Entry: "", ArchivedAt: at.Truncate(time.Second)},
		{Seq: 2, Prev: "a\"b", Entry: "1-0", ArchivedAt: at},
		{Seq: 2, Prev: "ab", Entry: "1-<0>", ArchivedAt: at},
		{Seq: 3, ArchivedAt: at.In(time.FixedZone("", 5*3600+30*60))},
		{Seq: 3, ArchivedAt: at.In(time.FixedZone("LMT", 17))},
		{Seq: 4, ArchivedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Seq: 5},
	}
	for _, b := range bodies {
		for _, e := range events {
			b.Event = json.RawMessage(e)
			checkRecordJSON(t, b)
		}
	}
	// The common case takes the fast way.
	if _, ok := appendRecordJSON(nil, recordBody{Seq: 1, Prev: "00", Entry: "1-0", ArchivedAt: at, Event: json.RawMessage(events[0])}); !ok {
		t.Error("an archiver's usual record did not take the fast way")
	}
}

// FuzzRecordJSON holds appendRecordJSON to json.Marshal, and
// parseEventHead's validity to json.Valid, on what the fuzzer finds (CI
// runs the seeds).
func FuzzRecordJSON(f *testing.F) {
	f.Add(uint64(1), "00", int64(1), 3, "1796411689871-0", int64(1796411689873377595), []byte(`{"id":"ev:1","tenant":"demo","subscriber":"ab"}`))
	f.Add(uint64(0), "", int64(0), 0, "", int64(0), []byte(`{"a":"<\u2028>"}`))
	f.Add(uint64(9), "x\x00", int64(-1), -2, "\xff", int64(-1), []byte("{\"a\":\"\xe2\x80\xa9\"}"))
	f.Fuzz(func(t *testing.T, seq uint64, prev string, fence int64, shard int, entry string, nanos int64, event []byte) {
		checkRecordJSON(t, recordBody{Seq: seq, Prev: prev, Fence: fence, Shard: shard, Entry: entry, ArchivedAt: time.Unix(0, nanos).UTC(), Event: event})
	})
}
