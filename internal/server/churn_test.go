package server

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/vendors/fake"
)

// Thousands of clients that hang up at random points (before the head,
// mid-head, mid-body, waiting for the first byte, mid-stream) against a
// vendor that hangs, stalls or cuts: afterwards every count is back at
// rest — requests in flight (the server's, the gauge, each credential's),
// max_in_flight and ip_limits.max_parallel slots, credential
// max_concurrency slots, goroutines and open descriptors.
func TestChurnLeavesNothingBehind(t *testing.T) {
	up := fake.Start(t, fake.OpenAI, fake.Options{Chunks: 30, ChunkGap: 2 * time.Millisecond})
	up.SetFault(func(r *fake.Recorded) *fake.Fault {
		switch r.Model {
		case "hang":
			return &fake.Fault{Hang: true}
		case "cut":
			return &fake.Fault{CutAfter: 2}
		case "stall":
			return &fake.Fault{StallAfter: 1}
		case "slow":
			return &fake.Fault{Delay: 30 * time.Millisecond}
		}
		return nil
	})
	const parallel = 6
	v := vendorOf("v", config.TypeOpenAI, up.URL(), []string{"a", "b"}, "m")
	for i := range v.Credentials {
		v.Credentials[i].MaxConcurrency = parallel
	}
	cfg := configOf(config.UnknownModelsPool, v)
	cfg.Server.MaxInFlight = 2 * parallel
	cfg.Fleet.IPLimits = config.IPLimits{MaxParallel: 2 * parallel}
	cfg.Routing.Timeouts.StreamIdle = 200 * time.Millisecond
	cfg.Routing.Timeouts.FirstByte = 300 * time.Millisecond
	g := startGateway(t, cfg)
	addr := strings.TrimPrefix(strings.TrimSuffix(g.URL, "/v1"), "http://")

	// All slots are free: 2*parallel slow requests at once all succeed.
	allServed := func() {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan string, 2*parallel)
		for range 2 * parallel {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := http.Post(g.URL+"/chat/completions", "application/json",
					strings.NewReader(`{"model":"slow","messages":[{"role":"user","content":"hi"}]}`))
				if err != nil {
					errs <- err.Error()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Sprintf("%d %s", resp.StatusCode, b)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Errorf("with every slot free: %s", e)
		}
	}
	settle := func() {
		http.DefaultClient.CloseIdleConnections()
		g.srv.mu.Lock()
		for _, a := range g.srv.adapters {
			if c, ok := a.(interface{ CloseIdleConnections() }); ok {
				c.CloseIdleConnections()
			}
		}
		g.srv.mu.Unlock()
	}
	allServed()
	settle()
	time.Sleep(50 * time.Millisecond)
	baseG, baseFD := runtime.NumGoroutine(), openFDs(t)

	body := func(model string, stream bool) string {
		return fmt.Sprintf(`{"model":%q,"stream":%v,"messages":[{"role":"user","content":"hi"}]}`, model, stream)
	}
	head := func(b string) string {
		return "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
			fmt.Sprint(len(b)) + "\r\n\r\n"
	}
	client := func(kind int) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		r := bufio.NewReader(c)
		pause := func() { time.Sleep(time.Duration(rand.IntN(15)) * time.Millisecond) }
		switch kind {
		case 0: // gone before the head
		case 1: // gone mid-head
			io.WriteString(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Le")
			pause()
		case 2: // gone mid-body
			b := body("m", false)
			io.WriteString(c, head(b)+b[:10])
			pause()
		case 3: // gone waiting for the first byte
			b := body("hang", rand.IntN(2) == 0)
			io.WriteString(c, head(b)+b)
			pause()
		case 4: // gone mid-stream
			b := body("m", true)
			io.WriteString(c, head(b)+b)
			r.ReadString('\n')
			pause()
		case 5: // the vendor cuts the stream
			b := body("cut", true)
			io.WriteString(c, head(b)+b)
			if resp, err := http.ReadResponse(r, nil); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		case 6: // the vendor stalls; the client leaves or the idle timeout ends it
			b := body("stall", true)
			io.WriteString(c, head(b)+b)
			r.ReadString('\n')
			pause()
		case 7: // a whole request, then gone on the kept-alive connection
			b := body("m", false)
			io.WriteString(c, head(b)+b)
			if resp, err := http.ReadResponse(r, nil); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				client(k)
			}
		}()
	}
	for i := 0; i < 2000 && time.Now().Before(deadline); i++ {
		work <- i % 8
	}
	close(work)
	wg.Wait()

	eventually(t, "requests in flight back to 0", func() bool { return g.srv.inFlight.Load() == 0 })
	eventually(t, "each credential's in-flight count back to 0", func() bool {
		for _, c := range g.srv.state.Load().router.Pool.All() {
			if c.CredentialState(time.Now()).InFlight != 0 || c.CombinationState(time.Now()).InFlight != 0 {
				return false
			}
		}
		return true
	})
	eventually(t, "the vendor's requests ended", func() bool { return up.Active() == 0 })
	_, _, m := do(t, "GET", strings.TrimSuffix(g.URL, "/v1")+"/metrics", "")
	if g := regexp.MustCompile(`(?m)^genrouter_in_flight_requests (\S+)`).FindStringSubmatch(m); g == nil || g[1] != "0" {
		t.Errorf("in-flight gauge after the churn: %v", g)
	}
	allServed()
	settle()
	eventually(t, "goroutines back to their idle count", func() bool { return runtime.NumGoroutine() <= baseG+2 })
	eventually(t, "descriptors back to their idle count", func() bool { return openFDs(t) <= baseFD+2 })
	if t.Failed() {
		t.Logf("goroutines %d (idle %d), descriptors %d (idle %d)", runtime.NumGoroutine(), baseG, openFDs(t), baseFD)
	}
}

func openFDs(t *testing.T) int {
	des, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(des)
}
