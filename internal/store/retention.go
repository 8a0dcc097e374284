package store

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// RetentionBatch is how many rows the retention job deletes per statement.
const RetentionBatch = 500

// DefaultRetentionEvery is how often the retention job runs when every <= 0.
const DefaultRetentionEvery = time.Hour

// Retention is a background job deleting usage rows older than a cutoff.
type Retention struct {
	cancel context.CancelFunc
	done   chan struct{}

	runs, deleted atomic.Int64
	mu            sync.Mutex
	lastRun       time.Time
	lastErr       error
}

// RetentionStats describe the job's work so far.
type RetentionStats struct {
	Runs    int64     `json:"runs"`
	Deleted int64     `json:"deleted"`
	LastRun time.Time `json:"last_run"` // when the last run finished
	LastErr error     `json:"-"`        // the last run's error, nil if it succeeded
}

// StartRetention deletes usage rows older than keep now and then every
// `every` (default DefaultRetentionEvery), RetentionBatch rows per statement,
// until ctx ends or Stop is called. keep <= 0 disables it (the returned
// job does nothing).
func StartRetention(ctx context.Context, s Store, keep, every time.Duration) *Retention {
	ctx, cancel := context.WithCancel(ctx)
	r := &Retention{cancel: cancel, done: make(chan struct{})}
	if keep <= 0 {
		close(r.done)
		return r
	}
	if every <= 0 {
		every = DefaultRetentionEvery
	}
	go func() {
		defer close(r.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			n, err := s.DeleteUsageBefore(ctx, time.Now().Add(-keep), RetentionBatch)
			r.deleted.Add(n)
			if ctx.Err() != nil {
				return // stopped mid-run: not a failure
			}
			r.runs.Add(1)
			r.mu.Lock()
			r.lastRun, r.lastErr = time.Now(), err
			r.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return r
}

// Stop ends the job and waits for it to return.
func (r *Retention) Stop() {
	r.cancel()
	<-r.done
}

// Stats returns what the job has done.
func (r *Retention) Stats() RetentionStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return RetentionStats{Runs: r.runs.Load(), Deleted: r.deleted.Load(), LastRun: r.lastRun, LastErr: r.lastErr}
}
