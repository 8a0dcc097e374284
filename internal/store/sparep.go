package store

import (
	"os"
	"runtime"
	"sync"
)

// withSpareP runs fn with GOMAXPROCS one higher, for work that blocks a
// thread in the kernel for milliseconds (a checkpoint's fsyncs): Go gives
// the P of a thread blocked in a system call to other goroutines only once
// its monitor thread notices, up to 10 ms later on a busy process, and with
// one P every request waits that long. With a spare P they go on.
//
// It is not used for the usage batches, which are CPU work: measured on one
// core, a spare P during each batch made the one-at-a-time p99 worse
// (0.20 -> 0.24 ms: many requests slowed a little as the OS shared the core
// instead of one request waiting), helped the open-loop p99 (1.7 -> 1.3 ms),
// and under a CPU quota (a container limit) a second thread burning CPU
// would get the whole process throttled.
//
// spareP is process-wide, as GOMAXPROCS is: overlapping and nested calls
// share one spare P, added by the first and taken back by the last.
// Changing GOMAXPROCS stops the world for a few microseconds, once each way.
var spareP struct {
	mu    sync.Mutex
	depth int
	n     int // GOMAXPROCS before the first call
}

func withSpareP(fn func()) {
	spareP.mu.Lock()
	if spareP.depth == 0 {
		spareP.n = runtime.GOMAXPROCS(0)
		runtime.GOMAXPROCS(spareP.n + 1)
	}
	spareP.depth++
	spareP.mu.Unlock()
	defer func() {
		spareP.mu.Lock()
		defer spareP.mu.Unlock()
		if spareP.depth--; spareP.depth > 0 {
			return
		}
		// Put back the value whoever chose it: the runtime's default
		// (which alone keeps its automatic updates), the GOMAXPROCS
		// variable, or a runtime.GOMAXPROCS call (go test -cpu).
		n := spareP.n
		if os.Getenv("GOMAXPROCS") == "" {
			runtime.SetDefaultGOMAXPROCS()
			if runtime.GOMAXPROCS(0) == n {
				return
			}
		}
		runtime.GOMAXPROCS(n)
	}()
	fn()
}
