package route

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/openai"
)

// An answer that arrives just as the first-byte timer fires must not be
// handed on with its context already cancelled (a stream that breaks at
// once): the race is settled one way, here as the timeout, and the next
// attempt serves the request.
func TestAnswerRacingTheFirstByteTimer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "genrouter.yaml")
	yaml := "vendors:\n  - name: a\n    type: openai\n    base_url: http://127.0.0.1:1/v1\n    credentials: [k1, k2]\n    models: [m]\n" +
		"routing:\n  attempts: 3\n  backoff_base: 1ms\n  backoff_cap: 1ms\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	r := routerFor(t, cfg)
	calls := 0
	lease, attempts, err := r.Do(context.Background(), Query{Model: "m"}, 10, 20*time.Millisecond,
		func(actx context.Context, c *Combination, arm func()) error {
			calls++
			arm()
			if calls == 1 {
				// The answer "arrives" only once the timer has fired:
				// the attempt returns success with its context cancelled.
				<-actx.Done()
			}
			return nil
		})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	defer lease.Done(nil, 0)
	if attempts != 2 || calls != 2 {
		t.Errorf("attempts %d, calls %d; want the timed-out attempt voided and a second one", attempts, calls)
	}
	if err := lease.Context().Err(); err != nil {
		t.Errorf("the lease's context is already done: %v", err)
	}
}

// A circuit's last_error names an attempt's failure as the attempts metric
// does (errclass.Attempt): a vendor's own 504 or 408 is a timeout there,
// and a gateway code keeps its class whatever status carried it.
func TestClassOfIsTheAttemptClass(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{openai.NewError(504, openai.TypeServer, "", "", "gateway timeout"), "vendor_timeout"},
		{openai.NewError(408, openai.TypeInvalidRequest, "", "", "request timeout"), "vendor_timeout"},
		{openai.NewError(502, openai.TypeServer, "stream_truncated", "", "cut"), "vendor_stream_broken"},
		{openai.NewError(429, openai.TypeRateLimit, "rate_limit_exceeded", "", "slow"), "vendor_rate_limited"},
		{openai.NewError(401, openai.TypeAuthentication, "invalid_api_key", "", "no"), "vendor_auth"},
		{openai.NewError(502, openai.TypeServer, "upstream_unreachable", "", "down"), "vendor_unreachable"},
		{openai.NewError(404, openai.TypeNotFound, "model_not_found", "", "no model"), "vendor_bad_request"},
		{errors.New("unexpected EOF"), "vendor_stream_broken"},
	} {
		if got := classOf(c.err); got != c.want {
			t.Errorf("classOf(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
