package bench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress draws one status line on stderr while a run goes: redrawn in
// place on a terminal, else a line now and then (logs stay readable).
type progress struct {
	w     io.Writer // nil: silent
	tty   bool
	total int

	mu    sync.Mutex
	step  int
	label string
	start time.Time
	dur   time.Duration
	max   int
	cnt   *counters
	stop  chan struct{}
	done  chan struct{}
}

func newProgress(w io.Writer, tty bool, total int) *progress {
	return &progress{w: w, tty: tty, total: total}
}

// begin starts showing a step that lasts about dur or max requests.
func (p *progress) begin(label string, dur time.Duration, max int, cnt *counters) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	p.step++
	p.label, p.start, p.dur, p.max, p.cnt = label, time.Now(), dur, max, cnt
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	p.mu.Unlock()
	every := 5 * time.Second
	if p.tty {
		every = 200 * time.Millisecond
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.draw("")
			}
		}
	}()
	if p.tty {
		p.draw("")
	}
}

// end finishes the step with a one-line summary.
func (p *progress) end(summary string) {
	if p.w == nil {
		return
	}
	close(p.stop)
	<-p.done
	p.draw(summary)
}

func (p *progress) draw(summary string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	el := time.Since(p.start)
	var n, errs int64
	if p.cnt != nil {
		n, errs = p.cnt.done.Load(), p.cnt.errs.Load()
	}
	frac := 0.0
	if p.dur > 0 {
		frac = float64(el) / float64(p.dur)
	}
	if p.max > 0 {
		frac = max(frac, float64(n)/float64(p.max))
	}
	frac = min(frac, 1)
	const width = 20
	bar := strings.Repeat("#", int(frac*width)) + strings.Repeat(".", width-int(frac*width))
	line := fmt.Sprintf("bench [%d/%d] %-28s [%s] %5.1fs  %7d req  %d err", p.step, p.total, p.label, bar, el.Seconds(), n, errs)
	if summary != "" {
		line = fmt.Sprintf("bench [%d/%d] %-28s %s", p.step, p.total, p.label, summary)
	}
	switch {
	case p.tty && summary != "":
		fmt.Fprintf(p.w, "\r\033[K%s\n", line)
	case p.tty:
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	default:
		fmt.Fprintln(p.w, line)
	}
}

// note prints a line outside any step.
func (p *progress) note(format string, args ...any) {
	if p.w == nil {
		return
	}
	fmt.Fprintf(p.w, "bench: "+format+"\n", args...)
}
