package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// benchModel is the one model the gateway is configured with.
const benchModel = "bench-model"

// request is what a scenario sends, over and over.
type request struct {
	url    string
	body   []byte
	stream bool
	events int // SSE events a complete stream has, [DONE] included
}

func newRequest(url string, stream bool, chunks int) *request {
	body := `{"model":"` + benchModel + `","messages":[{"role":"user","content":"Say hello to the benchmark."}]}`
	if stream {
		body = `{"model":"` + benchModel + `","stream":true,"messages":[{"role":"user","content":"Say hello to the benchmark."}]}`
	}
	return &request{url: url, body: []byte(body), stream: stream, events: chunks + 1}
}

// client is the load generator's HTTP client: connections for the whole
// concurrency kept alive and reused, no compression.
type client struct {
	tr *http.Transport
	hc *http.Client
}

func newClient(conns int) *client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConns:        conns + 16,
		MaxIdleConnsPerHost: conns + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &client{tr: tr, hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

func (c *client) close() { c.tr.CloseIdleConnections() }

var (
	modelInBody = []byte(`"model":"` + benchModel + `"`)
	doneTail    = []byte("data: [DONE]\n\n")
	errBadBody  = errors.New("answer lacks the asked model name")
)

// errIncomplete marks a stream that ended without every event and a final
// "data: [DONE]".
type errIncomplete struct{ events int }

func (e errIncomplete) Error() string {
	return fmt.Sprintf("incomplete stream: %d events, no final data: [DONE]", e.events)
}

// do sends rq and reads the whole answer into buf (reused between calls).
// ttfb is the time to the first byte of the body, measured from start.
func (c *client) do(ctx context.Context, rq *request, buf []byte, start time.Time) (ttfb time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rq.url, bytes.NewReader(rq.body))
	if err != nil {
		return 0, err
	}
	req.Header["Content-Type"] = hdrJSON
	req.Header["Authorization"] = hdrAuth
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		n, _ := io.ReadFull(resp.Body, buf[:min(len(buf), 512)])
		return 0, fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(buf[:n]))
	}
	if !rq.stream {
		n, err := readFull(resp.Body, buf)
		ttfb = time.Since(start)
		if err != nil {
			return 0, err
		}
		if !bytes.Contains(buf[:n], modelInBody) {
			return 0, errBadBody
		}
		return ttfb, nil
	}
	return readStream(resp.Body, buf, start, rq.events)
}

var hdrAuth = []string{"Bearer sk-bench"}

// readFull reads r to EOF into buf, returning how much of buf it filled
// (the rest of a larger body is read and dropped).
func readFull(r io.Reader, buf []byte) (int, error) {
	n := 0
	for {
		if n == len(buf) {
			_, err := io.Copy(io.Discard, r)
			return n, err
		}
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// readStream reads an SSE answer to EOF, counting events (blank-line
// separators, also across reads) and checking it ends with [DONE].
func readStream(r io.Reader, buf []byte, start time.Time, want int) (ttfb time.Duration, err error) {
	var tail [16]byte
	tn := 0 // bytes of tail in use
	events := 0
	lastNL := false
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if ttfb == 0 {
				ttfb = time.Since(start)
			}
			b := buf[:n]
			if lastNL && b[0] == '\n' {
				events++
			}
			events += bytes.Count(b, []byte("\n\n"))
			lastNL = b[n-1] == '\n'
			tn = keepTail(tail[:], tn, b)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return ttfb, fmt.Errorf("stream broke after %d events: %w", events, rerr)
		}
	}
	if events != want || !bytes.HasSuffix(tail[:tn], doneTail) {
		return ttfb, errIncomplete{events}
	}
	return ttfb, nil
}

// keepTail keeps the last len(t) bytes seen in t, given tn in use already.
func keepTail(t []byte, tn int, b []byte) int {
	if len(b) >= len(t) {
		return copy(t, b[len(b)-len(t):])
	}
	keep := min(tn, len(t)-len(b))
	copy(t, t[tn-keep:tn])
	copy(t[keep:], b)
	return keep + len(b)
}

// counters are what the progress line shows while a run goes.
type counters struct {
	done, errs atomic.Int64
}

// sample is what one worker collected.
type sample struct {
	lat, ttfb  []time.Duration
	ok, errs   int
	incomplete int
	firstErr   error
}

func (s *sample) record(lat, ttfb time.Duration, err error, stream bool) {
	if err != nil {
		var inc errIncomplete
		if errors.As(err, &inc) {
			s.incomplete++
		} else {
			s.errs++
		}
		if s.firstErr == nil {
			s.firstErr = err
		}
		return
	}
	s.ok++
	s.lat = append(s.lat, lat)
	if stream {
		s.ttfb = append(s.ttfb, ttfb)
	}
}

// add appends o's samples and counts to s.
func (s *sample) add(o *sample) {
	s.lat = append(s.lat, o.lat...)
	s.ttfb = append(s.ttfb, o.ttfb...)
	s.ok += o.ok
	s.errs += o.errs
	s.incomplete += o.incomplete
	if s.firstErr == nil {
		s.firstErr = o.firstErr
	}
}

// runResult is one scenario run against one target.
type runResult struct {
	sample
	missed  int // open loop: requests never sent because the run overran
	elapsed time.Duration
}

func merge(ss []*sample, elapsed time.Duration) *runResult {
	r := &runResult{elapsed: elapsed}
	for _, s := range ss {
		r.add(s)
	}
	return r
}

// runClosed keeps conc requests in flight, each worker sending its next
// request when the previous answer is read, until dur passes or max
// requests were sent.
func runClosed(ctx context.Context, c *client, rq *request, conc int, dur time.Duration, maxReq int, cnt *counters) *runResult {
	var issued atomic.Int64
	start := time.Now()
	deadline := start.Add(dur)
	ss := make([]*sample, conc)
	var wg sync.WaitGroup
	for w := range ss {
		s := &sample{lat: make([]time.Duration, 0, 1024)}
		ss[w] = s
		wg.Go(func() {
			buf := make([]byte, 32<<10)
			for ctx.Err() == nil && issued.Add(1) <= int64(maxReq) && time.Now().Before(deadline) {
				t0 := time.Now()
				ttfb, err := c.do(ctx, rq, buf, t0)
				s.record(time.Since(t0), ttfb, err, rq.stream)
				cnt.done.Add(1)
				if err != nil {
					cnt.errs.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return merge(ss, time.Since(start))
}

// runOpen sends requests at a fixed rate whatever the answers do, and
// measures each from the moment it was due (not when it was actually
// sent), so a stall shows as the latency every request queued behind it
// suffers: no coordinated omission. Workers bound the requests in flight;
// a request still unsent a second after the run's end is counted missed.
func runOpen(ctx context.Context, c *client, rq *request, rate float64, dur time.Duration, maxReq, workers int, cnt *counters) *runResult {
	planned := min(int(rate*dur.Seconds()), maxReq)
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now().Add(5 * time.Millisecond)
	giveUp := start.Add(dur + time.Second)
	var next atomic.Int64
	var missed atomic.Int64
	ss := make([]*sample, min(workers, max(planned, 1)))
	var wg sync.WaitGroup
	for w := range ss {
		s := &sample{lat: make([]time.Duration, 0, 256)}
		ss[w] = s
		wg.Go(func() {
			buf := make([]byte, 32<<10)
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(planned) {
					return
				}
				due := start.Add(time.Duration(i) * interval)
				if !wait(ctx, time.Until(due)) {
					return
				}
				if time.Now().After(giveUp) {
					missed.Add(1)
					continue
				}
				ttfb, err := c.do(ctx, rq, buf, due)
				s.record(time.Since(due), ttfb, err, rq.stream)
				cnt.done.Add(1)
				if err != nil {
					cnt.errs.Add(1)
				}
			}
		})
	}
	wg.Wait()
	r := merge(ss, time.Since(start))
	r.missed = int(missed.Load())
	return r
}

// holdResult is the idle-streams measure: n streams opened and then held.
type holdResult struct {
	opened, failed int
	firstErr       error
}

// holdStreams opens n streams whose upstream goes quiet after the first
// event, waits until each has delivered that event, then calls during
// (which measures) and cancels them all. At most 64 are being opened at a
// time, so connects do not overflow a listen backlog.
func holdStreams(ctx context.Context, url string, n int, openTimeout time.Duration, during func()) holdResult {
	body := []byte(`{"model":"` + benchModel + `","stream":true,"` + gapField + `":3600000,"messages":[{"role":"user","content":"Hold on."}]}`)
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, 64)
	var opened, failed atomic.Int64
	var errOnce sync.Once
	var firstErr error
	var ready, wg sync.WaitGroup
	ready.Add(n)
	for range n {
		wg.Go(func() {
			isReady := false
			markReady := func() {
				if !isReady {
					isReady = true
					<-sem
					ready.Done()
				}
			}
			defer markReady()
			sem <- struct{}{}
			fail := func(err error) {
				if hctx.Err() != nil {
					return // cancelled before it opened: not a failure
				}
				failed.Add(1)
				errOnce.Do(func() { firstErr = err })
			}
			req, err := http.NewRequestWithContext(hctx, http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				fail(err)
				return
			}
			req.Header["Content-Type"] = hdrJSON
			resp, err := hc.Do(req)
			if err != nil {
				fail(err)
				return
			}
			defer resp.Body.Close()
			var b [4096]byte
			if resp.StatusCode != http.StatusOK {
				fail(fmt.Errorf("status %d", resp.StatusCode))
				return
			}
			if _, err := resp.Body.Read(b[:]); err != nil && hctx.Err() == nil {
				fail(err)
				return
			}
			opened.Add(1)
			markReady()
			io.Copy(io.Discard, resp.Body) // blocks until cancelled
		})
	}
	done := make(chan struct{})
	go func() { ready.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(openTimeout):
	case <-ctx.Done():
	}
	if ctx.Err() == nil {
		during()
	}
	cancel()
	wg.Wait()
	return holdResult{opened: int(opened.Load()), failed: int(failed.Load()), firstErr: firstErr}
}
