package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
)

func TestPercent(t *testing.T) {
	const MiB = 1 << 20
	for _, c := range []struct {
		name                    string
		headroom, live, scanned uint64
		base, want              int
	}{
		// 2 MiB live: the minimum heap (4 MiB at 100) reaches 2+32 MiB at 850.
		{"small heap, the minimum heap term", 32 * MiB, 2 * MiB, 2 * MiB, 200, 851},
		// 100 MiB live: GOGC 200 already allows 200 MiB of growth.
		{"large heap, base already more", 32 * MiB, 100 * MiB, 100 * MiB, 200, 200},
		// 20 MiB live, 30 MiB scanned: 32 MiB of growth needs ~107 through the
		// proportional term, 1300 through the minimum heap.
		{"mid heap, the proportional term", 32 * MiB, 20 * MiB, 30 * MiB, 100, 107},
		{"nothing live yet", 32 * MiB, 0, 0, 100, 801},
		{"capped", 1 << 40, 0, 0, 100, 100000},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Percent(c.headroom, c.live, c.scanned, c.base); got != c.want {
				t.Errorf("Percent = %d, want %d", got, c.want)
			}
		})
	}
}

// With a floor, a program that allocates much and keeps little collects
// about once per floor's worth of allocation; Stop puts GOGC back.
func TestFloorMakesCollectionsRarer(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	const MiB = 1 << 20
	cycles := func(total int) uint32 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		before := m.NumGC
		var keep []byte
		for range total / (64<<10 + 1) {
			keep = make([]byte, 64<<10+1) // garbage by the next iteration
		}
		_ = keep
		runtime.ReadMemStats(&m)
		return m.NumGC - before
	}
	without := cycles(256 * MiB)
	f := Start(64*MiB, 100)
	runtime.GC() // the floor follows each collection
	with := cycles(256 * MiB)
	goal := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(goal)
	f.Stop()
	restored := debug.SetGCPercent(100)

	t.Logf("collections: %d without the floor, %d with", without, with)
	if with > 8 {
		t.Errorf("%d collections for 256 MiB of garbage with a 64 MiB floor, want at most 8 (%d without)", with, without)
	}
	if without < 4*with {
		t.Errorf("the floor changed little: %d collections with it, %d without", with, without)
	}
	if g := goal[0].Value.Uint64(); g < 64*MiB {
		t.Errorf("heap goal %d MiB with a 64 MiB floor", g/MiB)
	}
	if restored != 100 {
		t.Errorf("GOGC after Stop is %d, want the base 100", restored)
	}
}
