package route

import (
	"testing"
	"time"
)

// A request's token correction belongs to the second its estimate was
// counted in. Put in the second the request ended instead, a refund
// outlives the estimate it corrects by the request's duration and lets the
// credential take more than its tpm in a minute.
func TestLocalTPMCorrectionStaysWithItsRequest(t *testing.T) {
	l := newLocalLimits(0, 1000, 0)
	t0 := time.Unix(1_700_000_000, 0)
	if !l.take(t0, 900) {
		t.Fatal("first request refused")
	}
	l.done(t0.Add(30*time.Second), t0, 900, 100) // a 30s request that used 100 tokens, not 900
	later := t0.Add(61 * time.Second)            // the first request has left the window
	if !l.take(later, 900) {
		t.Fatal("a request in an empty window refused")
	}
	if l.take(later, 900) {
		t.Fatalf("1800 tokens admitted within a minute on a credential with tpm 1000 (window sum %d)", l.tokens.sum(later.Unix()))
	}
}
