package limit

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// slowProxy sits between a limiter and Redis. While held, Redis' answers
// are kept back (the commands still reach Redis and run): a slow Redis, or a
// network that loses the answer.
type slowProxy struct {
	ln      net.Listener
	holding atomic.Bool
	once    sync.Once
	gate    chan struct{}
}

func startSlowProxy(t *testing.T, backend string) *slowProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &slowProxy{ln: ln, gate: make(chan struct{})}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		p.release()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", backend)
			if err != nil {
				c.Close()
				continue
			}
			wg.Go(func() {
				io.Copy(b, c)
				b.Close()
				c.Close()
			})
			wg.Go(func() {
				defer c.Close()
				defer b.Close()
				buf := make([]byte, 32<<10)
				for {
					n, err := b.Read(buf)
					if n > 0 {
						if p.holding.Load() {
							<-p.gate
						}
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			})
		}
	})
	return p
}

func (p *slowProxy) hold()    { p.holding.Store(true) }
func (p *slowProxy) release() { p.once.Do(func() { p.holding.Store(false); close(p.gate) }) }
func (p *slowProxy) addr() string {
	return p.ln.Addr().String()
}

// An acquire whose answer times out may still have run in Redis and taken a
// parallel slot there. The request is served on the local limiter and ends
// normally; the slot Redis holds for it must be given back when Redis
// answers again, not kept for the whole lease (a minute during which a key
// with max_parallel 1 is refused on every replica).
func TestRedisTimedOutAcquireGivesItsSlotBack(t *testing.T) {
	mr := miniredis.RunT(t)
	proxy := startSlowProxy(t, mr.Addr())
	clock := newFakeClock(testBase())
	slow, _ := newTestRedis(t, proxy.addr(), RedisOptions{Now: clock.Now, Prefix: "p:", Timeout: 200 * time.Millisecond,
		ProbeInterval: 20 * time.Millisecond})
	other, _ := newTestRedis(t, mr.Addr(), RedisOptions{Now: clock.Now, Prefix: "p:", Timeout: 10 * time.Second})
	ctx := context.Background()
	l := Limits{MaxParallel: 1}

	// Warm up: the scripts are loaded, so that the held answer is the script's own.
	tk, d, err := slow.Acquire(ctx, "warm", l, 0)
	if tk == nil {
		t.Fatalf("warm-up: %v %v", d, err)
	}
	tk.Done(ctx, 0, 0)

	proxy.hold()
	tk, d, err = slow.Acquire(ctx, "k", l, 0)
	if tk == nil {
		t.Fatalf("acquire on a slow Redis: %v %v", d, err)
	}
	if slow.Health().OK {
		t.Fatal("the timeout was not noticed")
	}
	tk.Done(ctx, 0, 0) // the request ends
	proxy.release()
	deadline := time.Now().Add(10 * time.Second)
	for !slow.Health().OK || slow.Health().PendingSpend != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the slow replica did not recover: %+v", slow.Health())
		}
		time.Sleep(10 * time.Millisecond)
	}
	tk, d, err = other.Acquire(ctx, "k", l, 0)
	if tk == nil {
		t.Fatalf("no request in flight, max_parallel 1: %v (err %v); Redis still holds %d slot(s)", d, err, len(mustMembers(t, mr, "p:{k}:p")))
	}
	tk.Done(ctx, 0, 0)
}

func mustMembers(t *testing.T, mr *miniredis.Miniredis, key string) []string {
	t.Helper()
	m, _ := mr.ZMembers(key)
	return m
}
