package store

import (
	"context"
	"sync"
	"time"
)

// SQLite copies its write-ahead log into the database file at checkpoints,
// and a checkpoint ends with two fsyncs that block in the kernel for
// milliseconds (6–12 ms each on the benchmark machine). Go gives a P held
// by a thread blocked in a system call to other goroutines only once its
// monitor thread notices, which on a busy process polls every 10 ms; with
// one core (GOMAXPROCS=1) every request waited the fsyncs out, and SQLite's
// automatic checkpoint ran them inside whichever commit crossed 1,000 pages.
//
// So automatic checkpoints are off on the writer connection and the store
// runs them itself, after a commit, with one P more than usual for the
// length of the call (withSpareP): requests go on while the writer's
// thread waits on the disk.

// checkpointer decides when to checkpoint and runs it.
type checkpointer struct {
	every   int           // commits between checkpoints
	maxWait time.Duration // or this long, if any commit came
	minGap  time.Duration // never more often than this
	run     func(ctx context.Context) error

	mu      sync.Mutex
	commits int
	last    time.Time
}

func newCheckpointer(run func(ctx context.Context) error) *checkpointer {
	return &checkpointer{every: 100, maxWait: 30 * time.Second, minGap: time.Second, run: run, last: time.Now()}
}

// committed counts a commit and checkpoints when one is due. It runs on the
// committing goroutine (the usage writer, or an admin write).
func (c *checkpointer) committed(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.commits++
	since := time.Since(c.last)
	if since < c.minGap || (c.commits < c.every && since < c.maxWait) {
		return
	}
	c.commits, c.last = 0, time.Now()
	withSpareP(func() {
		// PASSIVE never waits for readers: what they still use is copied
		// next time. A failure is retried then too.
		_ = c.run(context.WithoutCancel(ctx))
	})
}
