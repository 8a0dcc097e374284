package store

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hangingStore never finishes an insert until its context ends: a database
// that stopped answering.
type hangingStore struct{ calls atomic.Int64 }

func (h *hangingStore) InsertUsage(ctx context.Context, rows []Usage) error {
	h.calls.Add(1)
	<-ctx.Done()
	return ctx.Err()
}

// recordingStore records the batches it gets; it fails the first failFirst
// calls, and every call when failAlways.
type recordingStore struct {
	mu         sync.Mutex
	batches    [][]Usage
	calls      int
	failFirst  int
	failAlways bool
}

func (r *recordingStore) InsertUsage(ctx context.Context, rows []Usage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.failAlways || r.calls <= r.failFirst {
		return errors.New("database is down")
	}
	r.batches = append(r.batches, append([]Usage(nil), rows...))
	return nil
}

func (r *recordingStore) sizes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for _, b := range r.batches {
		out = append(out, len(b))
	}
	return out
}

func (r *recordingStore) rows() int {
	n := 0
	for _, s := range r.sizes() {
		n += s
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The request path must never wait for the database: with the store hung,
// Enqueue still returns at once, and what does not fit is counted.
func TestWriterNeverBlocksOnHungStore(t *testing.T) {
	h := &hangingStore{}
	const queue, batch = 100, 10
	w := NewWriter(h, WriterOptions{QueueSize: queue, BatchSize: batch, FlushInterval: time.Millisecond,
		WriteTimeout: time.Hour, Retries: -1})
	// The writer takes one batch and hangs on it.
	for range batch {
		w.Enqueue(Usage{})
	}
	waitFor(t, "the store to be called", func() bool { return h.calls.Load() == 1 })

	// Eight "request handlers" enqueue concurrently; none may wait.
	const workers, perWorker = 8, 5000
	var accepted, refused atomic.Int64
	var slowest atomic.Int64
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range perWorker {
					t0 := time.Now()
					ok := w.Enqueue(Usage{RequestID: "x"})
					if d := int64(time.Since(t0)); d > slowest.Load() {
						slowest.Store(d) // racy max, good enough
					}
					if ok {
						accepted.Add(1)
					} else {
						refused.Add(1)
					}
				}
			})
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Enqueue blocked while the store hangs")
	}
	elapsed := time.Since(start)
	t.Logf("%d Enqueue calls against a hung store in %v (slowest %v)", workers*perWorker, elapsed, time.Duration(slowest.Load()))
	if elapsed > 3*time.Second {
		t.Errorf("%d Enqueue calls took %v", workers*perWorker, elapsed)
	}
	if accepted.Load() != queue || refused.Load() != workers*perWorker-queue {
		t.Errorf("accepted %d refused %d; want %d and %d", accepted.Load(), refused.Load(), queue, workers*perWorker-queue)
	}
	st := w.Stats()
	if st.Enqueued != queue+batch || st.Dropped != workers*perWorker-queue || st.Written != 0 || st.Pending != queue+batch {
		t.Errorf("stats while hung %+v", st)
	}

	// Close cannot flush into a hung store: it gives up when its context
	// ends, counts every queued row as failed, and says so.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	err := w.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close error = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("Close took %v with a 100ms context", d)
	}
	st = w.Stats()
	if st.Failed != queue+batch || st.Written != 0 || st.Pending != 0 {
		t.Errorf("stats after Close %+v", st)
	}
	if w.Enqueue(Usage{}) || w.Stats().Dropped != st.Dropped+1 {
		t.Error("Enqueue after Close was not refused and counted")
	}
	if err := w.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestWriterBatchesBySizeAndInterval(t *testing.T) {
	r := &recordingStore{}
	w := NewWriter(r, WriterOptions{BatchSize: 5, FlushInterval: time.Hour})
	for range 12 {
		w.Enqueue(Usage{})
	}
	waitFor(t, "two full batches", func() bool { return r.rows() == 10 })
	time.Sleep(20 * time.Millisecond)
	if got := r.sizes(); len(got) != 2 || got[0] != 5 || got[1] != 5 {
		t.Errorf("batches %v before Close, want [5 5]", got)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := r.sizes(); len(got) != 3 || got[2] != 2 {
		t.Errorf("batches %v after Close, want [5 5 2]", got)
	}

	// A partial batch goes out after the interval without Close.
	r2 := &recordingStore{}
	w2 := NewWriter(r2, WriterOptions{BatchSize: 1000, FlushInterval: 20 * time.Millisecond})
	defer w2.Close(context.Background())
	before := time.Now()
	for range 3 {
		w2.Enqueue(Usage{})
	}
	waitFor(t, "the interval flush", func() bool { return r2.rows() == 3 })
	rows := r2.batches[0]
	if rows[0].Time.IsZero() || rows[0].Time.Before(before) {
		t.Errorf("Enqueue did not stamp a zero Time: %v", rows[0].Time)
	}
}

func TestWriterRetriesThenSucceeds(t *testing.T) {
	r := &recordingStore{failFirst: 2}
	var mu sync.Mutex
	var reports []bool
	w := NewWriter(r, WriterOptions{BatchSize: 4, FlushInterval: time.Hour, RetryBackoff: time.Millisecond,
		OnError: func(err error, rows int, final bool) {
			mu.Lock()
			reports = append(reports, final)
			mu.Unlock()
		}})
	for range 4 {
		w.Enqueue(Usage{})
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.Written != 4 || st.Failed != 0 || st.Retries != 2 || r.calls != 3 {
		t.Errorf("stats %+v after %d calls", st, r.calls)
	}
	if len(reports) != 2 || reports[0] || reports[1] {
		t.Errorf("OnError reports %v, want two non-final", reports)
	}
}

func TestWriterGivesUpAndCounts(t *testing.T) {
	r := &recordingStore{failAlways: true}
	var finals atomic.Int64
	w := NewWriter(r, WriterOptions{BatchSize: 3, FlushInterval: time.Hour, Retries: 2, RetryBackoff: time.Millisecond,
		OnError: func(err error, rows int, final bool) {
			if final {
				finals.Add(int64(rows))
			}
		}})
	for range 6 {
		w.Enqueue(Usage{})
	}
	waitFor(t, "both batches to be given up", func() bool { return w.Stats().Failed == 6 })
	st := w.Stats()
	if st.Written != 0 || st.Retries != 4 || r.calls != 6 || finals.Load() != 6 || st.Pending != 0 {
		t.Errorf("stats %+v, %d calls, %d rows reported lost", st, r.calls, finals.Load())
	}
	if err := w.Close(context.Background()); err != nil {
		t.Errorf("Close with nothing queued: %v", err)
	}
	// Rows that fail while closing make Close report the loss.
	w2 := NewWriter(r, WriterOptions{Retries: -1})
	w2.Enqueue(Usage{})
	if err := w2.Close(context.Background()); err == nil {
		t.Error("Close lost a row without saying so")
	}
}

func BenchmarkWriterEnqueue(b *testing.B) {
	// A hung store: after the first 1024 rows every call is a drop, the
	// path a request takes when the database is down.
	w := NewWriter(&hangingStore{}, WriterOptions{QueueSize: 1024})
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w.Enqueue(Usage{})
		}
	})
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_ = w.Close(ctx)
}

// The queue costs memory for the rows it holds, not for its capacity: an
// idle gateway's writer is not a 10,000-row buffer that every garbage
// collection scans. Rows keep their order across a backlog larger than a
// batch, and the backlog's memory is given back once written.
func TestWriterQueueCostsWhatItHolds(t *testing.T) {
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	r := &recordingStore{}
	w := NewWriter(r, WriterOptions{QueueSize: 100000, BatchSize: 64, FlushInterval: time.Hour})
	defer w.Close(context.Background())
	if grew := int64(heap()) - int64(before); grew > 64<<10 {
		t.Errorf("an empty writer with room for 100,000 rows holds %d KiB of heap", grew>>10)
	}
	for i := range 1000 {
		w.Enqueue(Usage{RequestID: strconv.Itoa(i)})
	}
	waitFor(t, "the full batches", func() bool { return r.rows() == 960 })
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range r.batches {
		for _, u := range b {
			if u.RequestID != strconv.Itoa(n) {
				t.Fatalf("row %d is %q: order lost", n, u.RequestID)
			}
			n++
		}
	}
	if n != 1000 {
		t.Fatalf("%d rows written, want 1000", n)
	}
	w.mu.Lock()
	left := cap(w.queue)
	w.mu.Unlock()
	if left > 4*64 {
		t.Errorf("the drained queue keeps room for %d rows", left)
	}
}

// Eight goroutines enqueue at once into a queue smaller than what they send:
// every row is either refused (counted) or written, each producer's rows keep
// their order, and nothing stays pending after Close.
func TestWriterManyProducersKeepCountsAndOrder(t *testing.T) {
	r := &recordingStore{}
	w := NewWriter(r, WriterOptions{QueueSize: 3000, BatchSize: 7, FlushInterval: time.Hour})
	var wg sync.WaitGroup
	for p := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20000 {
				w.Enqueue(Usage{RequestID: strconv.Itoa(p) + ":" + strconv.Itoa(i)})
			}
		}()
	}
	wg.Wait()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := w.Stats()
	if s.Enqueued+s.Dropped != 160000 || s.Written != s.Enqueued || s.Pending != 0 || int64(r.rows()) != s.Written {
		t.Fatalf("%+v rows=%d", s, r.rows())
	}
	last := map[string]int{}
	for _, b := range r.batches {
		for _, u := range b {
			var p, i int
			for k := 0; k < len(u.RequestID); k++ {
				if u.RequestID[k] == ':' {
					p, _ = strconv.Atoi(u.RequestID[:k])
					i, _ = strconv.Atoi(u.RequestID[k+1:])
				}
			}
			key := strconv.Itoa(p)
			if prev, ok := last[key]; ok && i <= prev {
				t.Fatalf("order lost for producer %d: %d after %d", p, i, prev)
			}
			last[key] = i
		}
	}
	t.Logf("%+v", s)
}
