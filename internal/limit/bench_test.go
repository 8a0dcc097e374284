package limit

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/alicebob/miniredis/v2"
)

// go test -run '^$' -bench . -benchmem ./internal/limit/

var benchLimits = Limits{RPM: 1 << 30, TPM: 1 << 30, MaxParallel: 1 << 20, BudgetDaily: 1e6, BudgetMonthly: 1e6}

func benchSubjects(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = "vk_" + strconv.Itoa(i)
	}
	return s
}

func benchAcquireDone(b *testing.B, lim Limiter, subjects []string) {
	ctx := context.Background()
	for _, s := range subjects {
		tk, _, _ := lim.Acquire(ctx, s, benchLimits, 1)
		tk.Done(ctx, 1, 0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		tk, d, err := lim.Acquire(ctx, subjects[i%len(subjects)], benchLimits, 100)
		if tk == nil {
			b.Fatal(d, err)
		}
		tk.Done(ctx, 120, 0.0001)
		i++
	}
}

func BenchmarkMemoryAcquireDone(b *testing.B) {
	benchAcquireDone(b, NewMemory(), benchSubjects(1))
}

func BenchmarkMemoryAcquireDone10kSubjects(b *testing.B) {
	benchAcquireDone(b, NewMemory(), benchSubjects(10_000))
}

func BenchmarkMemoryAcquireOnly(b *testing.B) {
	m := NewMemory()
	ctx := context.Background()
	l := Limits{RPM: 1 << 30, TPM: 1 << 30}
	b.ReportAllocs()
	for b.Loop() {
		m.Acquire(ctx, "vk", l, 100)
	}
}

func BenchmarkMemoryAcquireDoneParallel(b *testing.B) {
	m := NewMemory()
	subjects := benchSubjects(1024)
	ctx := context.Background()
	var seq atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(1) * 7919)
		for pb.Next() {
			tk, d, err := m.Acquire(ctx, subjects[i%len(subjects)], benchLimits, 100)
			if tk == nil {
				b.Fatal(d, err)
			}
			tk.Done(ctx, 120, 0.0001)
			i++
		}
	})
}

func BenchmarkMemoryDenied(b *testing.B) {
	m := NewMemory()
	ctx := context.Background()
	l := Limits{RPM: 1}
	m.Acquire(ctx, "vk", l, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, d, _ := m.Acquire(ctx, "vk", l, 0); d == nil {
			b.Fatal("admitted")
		}
	}
}

func BenchmarkRedisMiniredisAcquireDone(b *testing.B) {
	mr := miniredis.RunT(b)
	lim, _ := newTestRedis(b, mr.Addr(), RedisOptions{})
	benchAcquireDone(b, lim, benchSubjects(100))
	if !lim.Health().OK {
		b.Fatalf("%+v", lim.Health())
	}
}

func BenchmarkRealRedisAcquireDone(b *testing.B) {
	url := realRedisURL(b)
	lim, _ := newRealReplica(b, url, RedisOptions{Prefix: uniquePrefix(b, url)})
	benchAcquireDone(b, lim, benchSubjects(100))
	if !lim.Health().OK {
		b.Fatalf("%+v", lim.Health())
	}
}

func BenchmarkRealRedisAcquireDoneParallel(b *testing.B) {
	url := realRedisURL(b)
	lim, _ := newRealReplica(b, url, RedisOptions{Prefix: uniquePrefix(b, url)})
	subjects := benchSubjects(100)
	ctx := context.Background()
	var seq atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(1))
		for pb.Next() {
			tk, d, err := lim.Acquire(ctx, subjects[i%len(subjects)], benchLimits, 100)
			if tk == nil {
				b.Fatal(d, err)
			}
			tk.Done(ctx, 120, 0.0001)
			i++
		}
	})
	if !lim.Health().OK {
		b.Fatalf("%+v", lim.Health())
	}
}
