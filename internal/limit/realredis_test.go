package limit

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Tests against a real redis-server. They run when GENROUTER_TEST_REDIS_URL is set
// (.ci/start-redis.sh starts one) and are skipped loudly otherwise.

func realRedisURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(envRedisURL)
	if url == "" {
		t.Skip("*** Redis tests skipped: set GENROUTER_TEST_REDIS_URL (eval \"$(.ci/start-redis.sh | tail -1)\") ***")
	}
	return url
}

// newRealReplica is one gateway replica: its own client and limiter on the shared Redis.
func newRealReplica(t testing.TB, url string, o RedisOptions) (*Redis, *redis.Client) {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second // -race on a busy machine
	}
	co, err := RedisClientOptions(url)
	if err != nil {
		t.Fatal(err)
	}
	co.PoolTimeout, co.ReadTimeout, co.WriteTimeout = o.Timeout, o.Timeout, o.Timeout
	client := redis.NewClient(co)
	lim, err := NewRedis(client, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		lim.Close()
		client.Close()
	})
	if st := lim.Health(); !st.OK {
		t.Fatalf("redis at %s: %+v", url, st)
	}
	return lim, client
}

// uniquePrefix keeps tests apart on a shared Redis, and deletes their keys afterwards.
func uniquePrefix(t testing.TB, url string) string {
	t.Helper()
	prefix := fmt.Sprintf("genrouter-test:%d:", time.Now().UnixNano())
	t.Cleanup(func() {
		c, err := NewRedisClient(url)
		if err != nil {
			return
		}
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return prefix
}

func TestRealRedisConformance(t *testing.T) {
	url := realRedisURL(t)
	runConformance(t, func(t *testing.T, now func() time.Time) Limiter {
		lim, _ := newRealReplica(t, url, RedisOptions{Now: now, Prefix: uniquePrefix(t, url)})
		return lim
	})
}

func TestRealRedisCooldowns(t *testing.T) {
	url := realRedisURL(t)
	runCooldownConformance(t, func(t *testing.T, now func() time.Time) Cooldowns {
		lim, _ := newRealReplica(t, url, RedisOptions{Now: now, Prefix: uniquePrefix(t, url)})
		return lim.Cooldowns()
	})
}

// Two replicas (two clients) sharing one Redis enforce one limit: a 100 rpm key, 2 × 80
// concurrent requests, exactly 100 pass. Budgets and parallel slots are shared too.
func TestRealRedisTwoReplicasOneLimit(t *testing.T) {
	url := realRedisURL(t)
	ctx := context.Background()

	t.Run("100 rpm, 2x80 concurrent, frozen clock", func(t *testing.T) {
		// The clock is frozen: GCRA refills one request every 600ms, which a slow machine
		// could legitimately reach while 160 requests are in flight.
		clock := newFakeClock(testBase())
		o := RedisOptions{Now: clock.Now, Prefix: uniquePrefix(t, url)}
		a, _ := newRealReplica(t, url, o)
		b, _ := newRealReplica(t, url, o)
		ok, denied := burst(t, []*Redis{a, b}, 80, Limits{RPM: 100})
		if ok != 100 || denied != 60 {
			t.Fatalf("admitted %d, denied %d: want exactly 100 and 60", ok, denied)
		}
	})

	t.Run("100 rpm, 2x80 concurrent, real clock", func(t *testing.T) {
		o := RedisOptions{Prefix: uniquePrefix(t, url)}
		a, _ := newRealReplica(t, url, o)
		b, _ := newRealReplica(t, url, o)
		start := time.Now()
		ok, _ := burst(t, []*Redis{a, b}, 80, Limits{RPM: 100})
		refill := int64(time.Since(start) / (600 * time.Millisecond))
		if ok < 100 || ok > 100+refill {
			t.Fatalf("admitted %d in %v: want 100 (+%d refilled)", ok, time.Since(start), refill)
		}
		t.Logf("admitted %d of 160 in %v", ok, time.Since(start))
	})

	t.Run("budgets and parallel slots shared", func(t *testing.T) {
		clock := newFakeClock(testBase())
		o := RedisOptions{Now: clock.Now, Prefix: uniquePrefix(t, url)}
		a, _ := newRealReplica(t, url, o)
		b, _ := newRealReplica(t, url, o)
		budget := Limits{BudgetDaily: 1, BudgetMonthly: 10}
		tk, _, _ := a.Acquire(ctx, "team", budget, 0)
		tk.Done(ctx, 0, 0.7)
		tk, _, _ = b.Acquire(ctx, "team", budget, 0)
		tk.Done(ctx, 0, 0.3)
		for name, r := range map[string]*Redis{"a": a, "b": b} {
			if _, d, _ := r.Acquire(ctx, "team", budget, 0); d == nil || d.Reason != ReasonBudgetDaily || d.RetryAfter != time.Hour {
				t.Fatalf("%s: %+v, want budget_daily for 1h", name, d)
			}
		}
		par := Limits{MaxParallel: 3}
		a1, _, _ := a.Acquire(ctx, "par", par, 0)
		a2, _, _ := a.Acquire(ctx, "par", par, 0)
		b1, _, _ := b.Acquire(ctx, "par", par, 0)
		if a1 == nil || a2 == nil || b1 == nil {
			t.Fatal("3 slots: denied")
		}
		if _, d, _ := b.Acquire(ctx, "par", par, 0); d == nil || d.Reason != ReasonParallel {
			t.Fatalf("4th slot on b: %+v", d)
		}
		a1.Done(ctx, 0, 0)
		if tk, d, _ := b.Acquire(ctx, "par", par, 0); tk == nil {
			t.Fatalf("slot freed on a, b: %+v", d)
		}
	})
}

// burst sends perReplica concurrent requests through each replica at once.
func burst(t *testing.T, replicas []*Redis, perReplica int, l Limits) (ok, denied int64) {
	var nOK, nDenied atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, r := range replicas {
		for range perReplica {
			wg.Go(func() {
				<-start
				tk, d, err := r.Acquire(context.Background(), "key-100rpm", l, 0)
				switch {
				case err != nil:
					t.Error(err)
				case d != nil:
					nDenied.Add(1)
				default:
					nOK.Add(1)
					tk.Done(context.Background(), 0, 0)
				}
			})
		}
	}
	close(start)
	wg.Wait()
	for _, r := range replicas {
		if st := r.Health(); !st.OK {
			t.Fatalf("a replica fell back to local limits during the burst: %+v", st)
		}
	}
	return nOK.Load(), nDenied.Load()
}

// Stopping Redis mid-test: a dedicated redis-server on a free port, killed (SIGKILL) and
// restarted on the same port and data directory (AOF, fsync always), then hung (SIGSTOP).
func TestRealRedisOutage(t *testing.T) {
	realRedisURL(t)
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("*** Redis outage test skipped: redis-server is not on PATH (.ci/start-redis.sh installs it) ***")
	}
	srv := startRedisServer(t)
	runOutage(t, srv.addr, outageControl{
		kill:          srv.kill,
		restart:       srv.start,
		hang:          func() { srv.signal(syscall.SIGSTOP) },
		unhang:        func() { srv.signal(syscall.SIGCONT) },
		afterDeadTime: 300 * time.Millisecond, // a few failed probes
	})
}

type redisProc struct {
	t    *testing.T
	addr string
	dir  string
	mu   sync.Mutex
	cmd  *exec.Cmd
}

func startRedisServer(t *testing.T) *redisProc {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &redisProc{t: t, addr: addr, dir: t.TempDir()}
	p.start()
	t.Cleanup(func() {
		p.signal(syscall.SIGCONT)
		p.kill()
	})
	return p
}

func (p *redisProc) start() {
	p.t.Helper()
	_, port, _ := net.SplitHostPort(p.addr)
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--dir", p.dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.cmd = cmd
	p.mu.Unlock()
	c := redis.NewClient(&redis.Options{Addr: p.addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			p.t.Fatalf("redis-server on %s did not start: %s", p.addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *redisProc) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		p.cmd = nil
	}
}

func (p *redisProc) signal(sig os.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		p.cmd.Process.Signal(sig)
	}
}
