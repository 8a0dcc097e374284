package store

import (
	"runtime"
	"sync"
	"testing"
)

// Nested and overlapping calls share one spare P, and the last one out
// puts GOMAXPROCS back.
func TestSpareP(t *testing.T) {
	n := runtime.GOMAXPROCS(0)
	var inner, outer int
	withSpareP(func() {
		outer = runtime.GOMAXPROCS(0)
		withSpareP(func() { inner = runtime.GOMAXPROCS(0) })
	})
	if outer != n+1 || inner != n+1 {
		t.Errorf("GOMAXPROCS %d outside and %d nested, want %d both", outer, inner, n+1)
	}
	if got := runtime.GOMAXPROCS(0); got != n {
		t.Fatalf("GOMAXPROCS %d after, want %d", got, n)
	}

	var wg sync.WaitGroup
	start, release := make(chan struct{}), make(chan struct{})
	seen := make([]int, 4)
	for i := range seen {
		wg.Add(1)
		go func() {
			defer wg.Done()
			withSpareP(func() {
				start <- struct{}{}
				<-release
				seen[i] = runtime.GOMAXPROCS(0)
			})
		}()
	}
	for range seen {
		<-start // all four inside at once
	}
	close(release)
	wg.Wait()
	for i, p := range seen {
		if p != n+1 {
			t.Errorf("call %d saw GOMAXPROCS %d, want %d", i, p, n+1)
		}
	}
	if got := runtime.GOMAXPROCS(0); got != n {
		t.Errorf("GOMAXPROCS %d after overlapping calls, want %d", got, n)
	}
}
