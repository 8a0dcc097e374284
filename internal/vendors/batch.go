package vendors

import (
	"context"
	"sync"
)

// Batches runs send over [0, n) cut into consecutive slices of at most
// size items, at most parallel of them at once. The first error stops the
// rest (their context is cancelled) and is what Batches returns. It is for
// vendors that take fewer inputs per request than OpenAI does: Gemini
// embeds at most 100 at a time, where OpenAI takes 2048.
func Batches(ctx context.Context, n, size, parallel int, send func(ctx context.Context, lo, hi int) error) error {
	if n <= size {
		return send(ctx, 0, n)
	}
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
			cancel()
		}
		mu.Unlock()
	}
	sem := make(chan struct{}, max(1, parallel))
	for lo := 0; lo < n; lo += size {
		select {
		case sem <- struct{}{}:
		case <-bctx.Done():
		}
		if bctx.Err() != nil {
			// A slice failed, or the caller gave up: send no more.
			fail(context.Cause(bctx)) // kept only if nothing failed first
			break
		}
		wg.Add(1)
		go func(lo, hi int) {
			defer func() { <-sem; wg.Done() }()
			if err := send(bctx, lo, hi); err != nil {
				fail(err)
			}
		}(lo, min(n, lo+size))
	}
	wg.Wait()
	return first
}
