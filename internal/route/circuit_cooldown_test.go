package route

import (
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/config"
)

func reasonTestCfg() *config.Circuit {
	return &config.Circuit{Failures: 3, FailureRate: 0.5, MinRequests: 10, Window: time.Minute,
		Cooldown: time.Second, MaxCooldown: time.Minute, AuthCooldown: time.Minute, RateLimitCooldown: time.Second}
}

// A vendor's Retry-After outlasts the short failure cooldown that a few
// timeouts open on top of it. The circuit's reason must stay the one whose
// wait is still in force: a working health probe must not end the vendor's
// wait because the reason was overwritten with "failures".
func TestProbeKeepsARateLimitCooldownThatOutlastsFailures(t *testing.T) {
	cfg := reasonTestCfg()
	c := &circuit{}
	now := time.Unix(1_700_000_000, 0)
	c.coolDown(cfg, now, 60*time.Second, ReasonRateLimited, "vendor_rate_limited")
	for range cfg.Failures { // requests in flight that time out (or probes that do)
		c.failure(cfg, now, "vendor_timeout")
	}
	if s := c.state(now); s.Reason != ReasonRateLimited {
		t.Errorf("reason %q while the 60s Retry-After is what keeps the key out", s.Reason)
	}
	c.probeSuccess(cfg, now.Add(2*time.Second))
	if c.usable(now.Add(2 * time.Second).UnixNano()) {
		t.Fatal("a health probe ended the vendor's 60s Retry-After after 2s")
	}
}

// A probe that works ends a failure cooldown, but not a vendor's wait
// running under it: the key comes back when the vendor said, not before.
func TestProbeEndsAFailureCooldownButNotTheVendorsWaitUnderIt(t *testing.T) {
	cfg := reasonTestCfg()
	cfg.Cooldown = 30 * time.Second
	c := &circuit{}
	now := time.Unix(1_700_000_000, 0)
	c.coolDown(cfg, now, 10*time.Second, ReasonRateLimited, "vendor_rate_limited")
	for range cfg.Failures {
		c.failure(cfg, now, "vendor_timeout") // 30s, longer than the vendor's 10s
	}
	c.probeSuccess(cfg, now.Add(2*time.Second))
	if c.usable(now.Add(5 * time.Second).UnixNano()) {
		t.Fatal("a health probe ended the vendor's 10s wait after 2s")
	}
	if !c.usable(now.Add(11 * time.Second).UnixNano()) {
		t.Fatal("the probe did not end the failure cooldown once the vendor's wait was over")
	}
}

// claim reads openUntil, then takes the trial slot with a CAS; a cooldown
// opened in between leaves the circuit open with the trial flag set. The
// request then succeeds during the cooldown; success must not leave that
// flag set, or once the cooldown is over no request can ever claim the
// trial again and the key never comes back (README: "Keys always come back
// on their own"). The state is built directly: the window is a few
// instructions wide.
func TestStaleTrialFlagDoesNotKeepAKeyOutForGood(t *testing.T) {
	cfg := reasonTestCfg()
	c := &circuit{}
	now := time.Unix(1_700_000_000, 0)
	c.coolDown(cfg, now, time.Second, ReasonRateLimited, "vendor_rate_limited")
	c.trial.Store(true) // what claim's CAS leaves after that coolDown
	c.success(cfg, now.Add(100*time.Millisecond))
	if !c.usable(now.Add(2 * time.Second).UnixNano()) {
		t.Fatal("after its 1s cooldown the circuit admits no request: the stale trial flag keeps the key out for good")
	}
}
