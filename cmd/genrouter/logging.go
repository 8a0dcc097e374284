package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
)

// asyncWriter hands log lines to a goroutine so that a slow terminal, pipe
// or disk never holds up a request. When its queue is full it drops lines
// and says how many it dropped, rather than blocking.
type asyncWriter struct {
	out     io.Writer
	lines   chan []byte
	dropped atomic.Int64
	done    chan struct{}
	once    sync.Once
}

func newAsyncWriter(out io.Writer, queue int) *asyncWriter {
	w := &asyncWriter{out: out, lines: make(chan []byte, queue), done: make(chan struct{})}
	go w.loop()
	return w
}

func (w *asyncWriter) Write(p []byte) (int, error) {
	line := append([]byte(nil), p...) // the handler reuses p
	select {
	case w.lines <- line:
	default:
		w.dropped.Add(1)
	}
	return len(p), nil
}

func (w *asyncWriter) loop() {
	defer close(w.done)
	for line := range w.lines {
		if n := w.dropped.Swap(0); n > 0 {
			fmt.Fprintf(w.out, "genrouter: log queue full, dropped %d lines\n", n)
		}
		w.out.Write(line)
	}
}

// Close writes out what is queued.
func (w *asyncWriter) Close() {
	w.once.Do(func() { close(w.lines) })
	<-w.done
}

func newLogger(w io.Writer, terminal io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	if format == "" {
		format = "json"
		if f, ok := terminal.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: want json or text, got %q", format)
}
