package vendors

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func TestBatches(t *testing.T) {
	var mu sync.Mutex
	var got [][2]int
	var inFlight, most atomic.Int32
	err := Batches(context.Background(), 250, 100, 2, func(ctx context.Context, lo, hi int) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		mu.Lock()
		got = append(got, [2]int{lo, hi})
		mu.Unlock()
		return nil
	})
	if err != nil || len(got) != 3 || most.Load() > 2 {
		t.Fatalf("err %v, slices %v, %d at once", err, got, most.Load())
	}
	seen := map[[2]int]bool{}
	for _, s := range got {
		seen[s] = true
	}
	if !seen[[2]int{0, 100}] || !seen[[2]int{100, 200}] || !seen[[2]int{200, 250}] {
		t.Errorf("slices %v", got)
	}

	// One request when it fits, on the caller's context.
	calls := 0
	Batches(context.Background(), 100, 100, 4, func(ctx context.Context, lo, hi int) error {
		calls++
		if lo != 0 || hi != 100 {
			t.Errorf("slice [%d, %d)", lo, hi)
		}
		return nil
	})
	if calls != 1 {
		t.Errorf("%d calls for a request that fits", calls)
	}

	// The first failure is the answer, and the slices still running are
	// cancelled rather than waited for.
	boom := errors.New("boom")
	err = Batches(context.Background(), 1000, 10, 3, func(ctx context.Context, lo, hi int) error {
		if lo == 20 {
			return boom
		}
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, boom) {
		t.Errorf("err %v, want the failing slice's", err)
	}

	// A caller that gives up stops it.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Batches(ctx, 300, 100, 1, func(ctx context.Context, lo, hi int) error { return ctx.Err() }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
