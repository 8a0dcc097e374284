package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// UsageInserter is what a Writer writes to; every Store is one.
type UsageInserter interface {
	InsertUsage(ctx context.Context, rows []Usage) error
}

// WriterOptions configure a Writer. Zero values take the defaults.
type WriterOptions struct {
	QueueSize     int           // rows held in memory at most; default 10000
	BatchSize     int           // rows per InsertUsage; default 256
	FlushInterval time.Duration // a partial batch waits at most this long; default 500ms
	Retries       int           // retries of a failed batch before it is dropped; default 3, negative for none
	RetryBackoff  time.Duration // wait before the first retry, doubled each time (with jitter); default 200ms
	WriteTimeout  time.Duration // limit of one InsertUsage call; default 10s
	// OnError, if set, is called from the writer's goroutine after each
	// failed attempt; final is true when the batch is given up. It must not
	// block for long.
	OnError func(err error, rows int, final bool)
}

func (o WriterOptions) withDefaults() WriterOptions {
	if o.QueueSize <= 0 {
		o.QueueSize = 10000
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 256
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 500 * time.Millisecond
	}
	switch {
	case o.Retries == 0:
		o.Retries = 3
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 200 * time.Millisecond
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	return o
}

// WriterStats count rows. Every row offered to Enqueue is either Dropped
// (refused at once) or Enqueued; every Enqueued row ends up Written or
// Failed, and until then is Pending.
type WriterStats struct {
	Enqueued int64 `json:"enqueued"` // accepted by Enqueue
	Written  int64 `json:"written"`  // committed to the store
	Dropped  int64 `json:"dropped"`  // refused by Enqueue: queue full, or writer closed
	Failed   int64 `json:"failed"`   // accepted, then lost: retries exhausted, or still queued when Close gave up
	Retries  int64 `json:"retries"`  // failed attempts that were retried
	Pending  int64 `json:"pending"`  // accepted, not yet Written or Failed
}

// Writer writes usage rows to a store in the background, in batches. Enqueue
// never blocks: a slow or unavailable database costs rows (counted), never
// request latency.
type Writer struct {
	store UsageInserter
	opt   WriterOptions

	// The queue is a slice that grows with the backlog, not a channel of
	// QueueSize rows: a channel's buffer is allocated whole and, since rows
	// hold strings, scanned by every garbage collection, full or empty
	// (2 MB of the gateway's live heap at the default size).
	mu     sync.Mutex
	queue  []Usage // rows queue[head:] are waiting
	head   int
	closed bool
	wake   chan struct{} // a full batch is waiting (capacity 1)

	stop      chan struct{} // closed by Close: drain and return
	done      chan struct{} // closed when run returns
	closeOnce sync.Once
	ctx       context.Context // cancelled when Close gives up
	cancel    context.CancelFunc

	enqueued, written, dropped, failed, retries atomic.Int64
}

// NewWriter starts a Writer; Close stops it.
func NewWriter(s UsageInserter, opt WriterOptions) *Writer {
	opt = opt.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{
		store:  s,
		opt:    opt,
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		ctx:    ctx,
		cancel: cancel,
	}
	go w.run()
	return w
}

// Enqueue queues a row for writing and reports whether it was accepted. It
// never blocks: when the queue is full, or the writer closed, the row is
// dropped and counted. A zero Time is set to now.
func (w *Writer) Enqueue(u Usage) bool {
	if u.Time.IsZero() {
		u.Time = time.Now()
	}
	w.mu.Lock()
	n := len(w.queue) - w.head
	if w.closed || n >= w.opt.QueueSize {
		w.mu.Unlock()
		w.dropped.Add(1)
		return false
	}
	if len(w.queue) == cap(w.queue) && w.head > 0 && w.head*4 >= len(w.queue) {
		// Move the waiting rows down once the array is full and a quarter
		// of it is taken rows: at most 3 copies per row amortised, where
		// copying the rest down at every take cost O(backlog) under the
		// lock Enqueue waits on. Otherwise append grows the array.
		k := copy(w.queue, w.queue[w.head:])
		clear(w.queue[k:])
		w.queue, w.head = w.queue[:k], 0
	}
	w.queue = append(w.queue, u)
	full := (n+1)%w.opt.BatchSize == 0
	w.enqueued.Add(1)
	w.mu.Unlock()
	if full {
		select {
		case w.wake <- struct{}{}:
		default: // already signalled
		}
	}
	return true
}

// Stats returns the counters.
func (w *Writer) Stats() WriterStats {
	s := WriterStats{
		Written: w.written.Load(),
		Failed:  w.failed.Load(),
		Dropped: w.dropped.Load(),
		Retries: w.retries.Load(),
	}
	s.Enqueued = w.enqueued.Load()
	s.Pending = max(0, s.Enqueued-s.Written-s.Failed)
	return s
}

// Close stops accepting rows and writes what is queued. If ctx ends first,
// the write in progress is cancelled and what remains is counted as Failed.
// It returns an error when rows were lost while closing (ctx ending, or the
// store failing). Close is safe to call more than once. The store must honour
// context cancellation (both implementations do) for Close to return
// promptly when ctx ends.
func (w *Writer) Close(ctx context.Context) error {
	failedBefore := w.failed.Load()
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.stop)
	})
	cause := errors.New("writes failed")
	select {
	case <-w.done:
	case <-ctx.Done():
		w.cancel()
		<-w.done // prompt: the store is called with a cancelled context, or not at all
		cause = ctx.Err()
	}
	w.cancel()
	if lost := w.failed.Load() - failedBefore; lost > 0 {
		return fmt.Errorf("store: usage writer: %d rows lost while closing: %w", lost, cause)
	}
	return nil
}

func (w *Writer) run() {
	defer close(w.done)
	tick := time.NewTicker(w.opt.FlushInterval)
	defer tick.Stop()
	for {
		partial, last := false, false
		select {
		case <-w.wake:
		case <-tick.C:
			partial = true
		case <-w.stop:
			// Enqueue can no longer add rows (closed is set before stop is
			// closed), so what is queued now is all there will be.
			partial, last = true, true
		}
		for batch := w.take(partial); batch != nil; batch = w.take(partial) {
			w.write(batch)
		}
		if last {
			return
		}
	}
}

// take removes the next batch from the queue: a full one, or with partial
// whatever is there. It returns nil when there is none.
func (w *Writer) take(partial bool) []Usage {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := min(len(w.queue)-w.head, w.opt.BatchSize)
	if n == 0 || (n < w.opt.BatchSize && !partial) {
		return nil
	}
	batch := slices.Clone(w.queue[w.head : w.head+n]) // the store may keep it
	clear(w.queue[w.head : w.head+n])                 // let the rows' strings go
	w.head += n
	if w.head == len(w.queue) {
		w.queue, w.head = w.queue[:0], 0
		if cap(w.queue) > 4*w.opt.BatchSize {
			w.queue = nil // a backlog's array is not kept once it drained
		}
	}
	return batch
}

// write inserts one batch, retrying with backoff, and counts the outcome.
func (w *Writer) write(batch []Usage) {
	n := int64(len(batch))
	backoff := w.opt.RetryBackoff
	for attempt := 0; ; attempt++ {
		if w.ctx.Err() != nil { // Close gave up: do not wait on the store again
			w.failed.Add(n)
			return
		}
		ctx, cancel := context.WithTimeout(w.ctx, w.opt.WriteTimeout)
		err := w.store.InsertUsage(ctx, batch)
		cancel()
		if err == nil {
			w.written.Add(n)
			return
		}
		final := attempt >= w.opt.Retries || w.ctx.Err() != nil
		if w.opt.OnError != nil {
			w.opt.OnError(err, len(batch), final)
		}
		if final {
			w.failed.Add(n)
			return
		}
		w.retries.Add(1)
		// Full jitter around the doubling backoff: [backoff/2, backoff*3/2).
		d := backoff/2 + time.Duration(rand.Int64N(int64(backoff)+1))
		backoff *= 2
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-w.ctx.Done():
			t.Stop()
		}
	}
}
