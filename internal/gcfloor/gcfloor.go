// Package gcfloor puts a floor under how much the heap may grow between
// two garbage collections.
//
// Go's collector runs when the heap has grown by GOGC percent of what was
// live. A gateway keeps little (a few MiB) and allocates per request, so at
// the default it collects every few hundred requests; on one core every
// collection slows the requests it overlaps, which is what a one-at-a-time
// p99 shows. With a floor of some MiB the collector runs rarer while the
// live heap is small, and nothing changes once the live heap is large
// enough for GOGC's proportion to be the larger: memory under load is
// bounded by live×(1+GOGC/100) or live+floor, whichever is more.
package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// Floor keeps GOGC at what gives at least its headroom. Stop it to put
// the base GOGC back.
type Floor struct {
	headroom uint64
	base     int

	stopped atomic.Bool
	mu      sync.Mutex // guards percent and samples (the finalizer goroutine, Stop)
	percent int
	samples []metrics.Sample
}

// What the runtime's heap goal is proportional to: the live heap plus the
// stacks and globals it scanned (runtime/mgcpacer.go, heapGoal).
var sampleNames = []string{"/gc/heap/live:bytes", "/gc/scan/stack:bytes", "/gc/scan/globals:bytes"}

// Start sets GOGC to base (a percentage, as the GOGC variable takes) or
// higher, so that the heap may grow by at least headroom bytes past the
// last collection's live heap, and keeps it so after every collection.
func Start(headroom uint64, base int) *Floor {
	f := &Floor{headroom: headroom, base: base, percent: -1}
	for _, n := range sampleNames {
		f.samples = append(f.samples, metrics.Sample{Name: n})
	}
	f.adjust()
	f.arm()
	return f
}

// Stop ends the adjustments and sets GOGC back to base.
func (f *Floor) Stop() {
	f.stopped.Store(true)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.percent = f.base
	debug.SetGCPercent(f.base)
}

// sentinel is unreachable as soon as it is made; its finalizer runs after
// the collection that found it so, and arms the next one.
type sentinel struct{ f *Floor }

func (f *Floor) arm() {
	runtime.SetFinalizer(&sentinel{f: f}, func(s *sentinel) {
		if s.f.stopped.Load() {
			return
		}
		s.f.adjust()
		s.f.arm()
	})
}

// adjust sets GOGC from what the last collection found live.
func (f *Floor) adjust() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped.Load() {
		return
	}
	metrics.Read(f.samples)
	var v [3]uint64 // live heap, stacks, globals
	for i, s := range f.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	p := Percent(f.headroom, v[0], v[0]+v[1]+v[2], f.base)
	// Small moves are not worth a change (each one recomputes the pacer).
	if f.percent > 0 && p*20 > f.percent*19 && p*20 < f.percent*21 {
		return
	}
	f.percent = p
	debug.SetGCPercent(p)
}

// Percent is the smallest GOGC, and never less than base, under which a
// heap with the given live bytes, after a collection that scanned the given
// bytes (live heap, stacks, globals), may grow by at least headroom.
//
// The runtime's goal is the larger of two terms that both grow with GOGC
// (runtime/mgcpacer.go): live + scanned×GOGC/100, and a minimum heap of
// 4 MiB×GOGC/100. While the live heap is small the minimum is what counts,
// so the headroom is reached through whichever term gets there first;
// taking only the first would set a minimum heap far past the floor.
func Percent(headroom, live, scanned uint64, base int) int {
	const minHeap = 4 << 20 // runtime defaultHeapMinimum, at GOGC=100
	const most = 100000
	byMin := (live + headroom) * 100 / minHeap
	byLive := uint64(most)
	if scanned > 0 {
		byLive = headroom * 100 / scanned
	}
	return max(base, int(min(byMin+1, byLive+1, most)))
}
