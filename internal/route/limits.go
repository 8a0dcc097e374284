package route

import (
	"sync"
	"time"
)

// localLimits enforces a credential's configured rpm, tpm and concurrency
// before anything is sent, so the vendor never has to refuse. Minutes are
// counted in a sliding window of one-second slots.
type localLimits struct {
	rpm, tpm, maxConc int64

	mu       sync.Mutex
	inFlight int64
	reqs     secondRing
	tokens   secondRing
}

type secondRing struct {
	slot [60]int64 // second of each slot
	n    [60]int64
}

func (r *secondRing) add(sec, v int64) {
	i := sec % 60
	if r.slot[i] != sec {
		r.slot[i], r.n[i] = sec, 0
	}
	r.n[i] += v
}

func (r *secondRing) sum(sec int64) int64 {
	var t int64
	for i := range r.slot {
		if sec-r.slot[i] < 60 {
			t += r.n[i]
		}
	}
	return t
}

// oldest returns how long until the window frees some room.
func (r *secondRing) wait(sec int64) time.Duration {
	oldest := sec
	for i := range r.slot {
		if r.n[i] > 0 && sec-r.slot[i] < 60 && r.slot[i] < oldest {
			oldest = r.slot[i]
		}
	}
	return time.Duration(oldest+60-sec) * time.Second
}

func newLocalLimits(rpm, tpm, maxConc int) *localLimits {
	if rpm == 0 && tpm == 0 && maxConc == 0 {
		return nil
	}
	return &localLimits{rpm: int64(rpm), tpm: int64(tpm), maxConc: int64(maxConc)}
}

// allows reports, without counting, whether a request of est tokens fits,
// and if not how long until it might.
func (l *localLimits) allows(now time.Time, est int64) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	sec := now.Unix()
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.maxConc > 0 && l.inFlight >= l.maxConc:
		return false, time.Second
	case l.rpm > 0 && l.reqs.sum(sec)+1 > l.rpm:
		return false, l.reqs.wait(sec)
	case l.tpm > 0 && l.tokens.sum(sec) > 0 && l.tokens.sum(sec)+est > l.tpm:
		return false, l.tokens.wait(sec)
	}
	return true, 0
}

// take counts a request if it still fits (another request may have taken
// the room since allows).
func (l *localLimits) take(now time.Time, est int64) bool {
	if l == nil {
		return true
	}
	sec := now.Unix()
	l.mu.Lock()
	defer l.mu.Unlock()
	if (l.maxConc > 0 && l.inFlight >= l.maxConc) || (l.rpm > 0 && l.reqs.sum(sec)+1 > l.rpm) ||
		(l.tpm > 0 && l.tokens.sum(sec) > 0 && l.tokens.sum(sec)+est > l.tpm) {
		return false
	}
	l.inFlight++
	l.reqs.add(sec, 1)
	l.tokens.add(sec, est)
	return true
}

// done frees the concurrency slot and corrects the token estimate counted
// at taken. The correction goes to the second the estimate was counted in,
// so that it leaves the window with it: a refund booked when a long request
// ends would outlive the estimate and let the next minute take more than
// tpm. Once that second has left the window only an excess is counted (now).
func (l *localLimits) done(now, taken time.Time, est, actual int64) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.inFlight--
	if actual > 0 && actual != est {
		sec, at := now.Unix(), taken.Unix()
		if i := at % 60; at <= sec && sec-at < 60 && l.tokens.slot[i] == at {
			l.tokens.n[i] += actual - est
		} else if actual > est {
			l.tokens.add(sec, actual-est)
		}
	}
	l.mu.Unlock()
}
