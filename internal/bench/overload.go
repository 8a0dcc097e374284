package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ScenarioOverload fires many slow requests at once against a gateway
// with a low max_in_flight: the excess must be shed at once, and memory
// must follow the limit, not the offered load.
const ScenarioOverload = "overload"

// OverloadResult is what the overload scenario saw.
type OverloadResult struct {
	Requests     int     `json:"requests"`
	Limit        int     `json:"max_in_flight"`
	TTFBMS       float64 `json:"upstream_ttfb_ms"`
	Served       int     `json:"served"`
	Shed         int     `json:"shed"` // 503 with Retry-After
	Failed       int     `json:"failed"`
	FirstError   string  `json:"first_error,omitempty"`
	ShedP50MS    float64 `json:"shed_p50_ms"`
	ShedP99MS    float64 `json:"shed_p99_ms"`
	RSSBeforeKiB int64   `json:"rss_before_kib"`
	RSSPeakKiB   int64   `json:"rss_peak_kib"`
	// BoundKiB is what the limit implies: each admitted request may hold
	// perAdmittedKiB, and each connection open at once (all of them, in
	// this burst: each must be read before it can be refused) perConnKiB.
	BoundKiB int64 `json:"bound_kib"`
}

const (
	perAdmittedKiB = 64
	perConnKiB     = 8
)

// overload runs the scenario on a gateway and upstream of its own, so the
// other scenarios' gateway keeps its normal settings.
func (r *runner) overload(ctx context.Context, tmp string, cpuTarget, cpuLoad int) (*OverloadResult, error) {
	o := r.o
	res := &OverloadResult{Requests: o.OverloadRequests, Limit: o.OverloadLimit, TTFBMS: ms(o.OverloadTTFB)}
	upAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	up, err := startProc(ctx, "slow-upstream", cpuLoad, false, apparatusEnv("GOMAXPROCS=1"), o.Bin, "bench-upstream",
		"--listen", upAddr, "--ttfb", o.OverloadTTFB.String(), "--chunks", "1")
	if err != nil {
		return nil, err
	}
	defer up.stop()
	gwAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(tmp, "overload.yaml")
	conf := gatewayConfig(gwAddr, upAddr) + fmt.Sprintf("database_url: none\nserver:\n  max_in_flight: %d\n", o.OverloadLimit)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	gw, err := startProc(ctx, "genrouter-overload", cpuTarget, false, nil, o.GatewayBin, "serve", "--config", cfg, "--listen", gwAddr, "--log-level", "error")
	if err != nil {
		return nil, err
	}
	defer gw.stop()
	for _, w := range []struct {
		p    *proc
		addr string
	}{{up, upAddr}, {gw, gwAddr}} {
		if err := waitListening(ctx, w.p, w.addr, 15*time.Second); err != nil {
			return nil, err
		}
	}
	url := "http://" + gwAddr + "/v1/chat/completions"
	body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hello"}]}`, benchModel)
	// Each request on a connection of its own, as from as many clients.
	client := &http.Client{Timeout: o.OverloadTTFB + 30*time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	post := func() (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
			return resp.StatusCode, fmt.Errorf("503 without Retry-After")
		}
		return resp.StatusCode, nil
	}
	if code, err := post(); err != nil || code != http.StatusOK {
		return nil, fmt.Errorf("overload preflight: status %d, %v", code, err)
	}
	res.RSSBeforeKiB = gw.rssKiB()

	done, peakc := make(chan struct{}), make(chan int64)
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var peak int64
		for {
			if v := gw.rssKiB(); v > peak {
				peak = v
			}
			select {
			case <-done:
				peakc <- peak
				return
			case <-t.C:
			}
		}
	}()
	var (
		mu   sync.Mutex
		shed []time.Duration
		wg   sync.WaitGroup
	)
	for range o.OverloadRequests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			code, err := post()
			d := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				res.Failed++
				if res.FirstError == "" {
					res.FirstError = err.Error()
				}
			case code == http.StatusOK:
				res.Served++
			case code == http.StatusServiceUnavailable:
				res.Shed++
				shed = append(shed, d)
			default:
				res.Failed++
				if res.FirstError == "" {
					res.FirstError = "status " + strconv.Itoa(code)
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	peak := <-peakc
	if v := gw.rssKiB(); v > peak {
		peak = v
	}
	res.RSSPeakKiB = peak
	res.BoundKiB = res.RSSBeforeKiB + int64(o.OverloadLimit)*perAdmittedKiB + int64(o.OverloadRequests)*perConnKiB
	slices.Sort(shed)
	res.ShedP50MS, res.ShedP99MS = ms(percentile(shed, 50)), ms(percentile(shed, 99))
	return res, nil
}
