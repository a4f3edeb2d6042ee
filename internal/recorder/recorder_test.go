package recorder

import (
	"slices"
	"sync"
	"testing"
)

func TestLog(t *testing.T) {
	var l Log[int]
	if got := l.All(); len(got) != 0 {
		t.Fatalf("empty Log: All() = %v; want nothing", got)
	}
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() { l.Add(i) })
	}
	wg.Wait()
	got := l.All()
	slices.Sort(got)
	if !slices.Equal(got, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("All() = %v; want 0..9", got)
	}
	got[0] = 99
	if l.All()[0] == 99 {
		t.Error("All() shares its slice with the Log")
	}
}
