package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCompare(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "baseline")
	body := "# header\nreason: known\ngosec:G304 a.go | os.ReadFile(p)\ngosec:G304 a.go | os.ReadFile(p)\ngosec:G104 b.go | f.Close()\n" +
		"reason: flaky taint\n? gosec:G704 c.go | http.Get(u)\nreason:\ngosec:G101 d.go | x\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	base, err := readBaseline(path)
	if err != nil {
		t.Fatal(err)
	}
	found := []finding{
		{Rule: "gosec:G304", File: "a.go", Text: "os.ReadFile(p)"},
		{Rule: "gosec:G304", File: "a.go", Text: "os.ReadFile(p)"},
		{Rule: "gosec:G304", File: "a.go", Text: "os.ReadFile(p)"}, // a third: new
		{Rule: "gosec:G101", File: "d.go", Text: "x"},
	}
	newOnes, stale, kept := compare(found, base)
	if len(newOnes) != 1 || newOnes[0].Rule != "gosec:G304" {
		t.Errorf("new = %+v; want the third G304", newOnes)
	}
	if len(stale) != 1 || stale[0].key != "gosec:G104 b.go | f.Close()" {
		t.Errorf("stale = %+v; want the G104 (the optional G704 is never stale)", stale)
	}
	if len(kept) != 4 {
		t.Errorf("kept = %+v; want two G304, the G101 and the optional G704", kept)
	}
	for _, e := range kept {
		if e.key == "gosec:G101 d.go | x" && e.reason != "" {
			t.Errorf("G101's reason = %q; want empty (the check then fails on it)", e.reason)
		}
	}
	if err := writeBaseline(path, kept, newOnes); err != nil {
		t.Fatal(err)
	}
	again, err := readBaseline(path)
	if err != nil {
		t.Fatal(err)
	}
	if n, s, k := compare(found, again); len(n) != 0 || len(s) != 0 || len(k) != 5 {
		t.Errorf("after update: new %v, stale %v, kept %d; want none, none, 5", n, s, len(k))
	}
}
