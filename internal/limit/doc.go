// Package limit enforces per-subject limits — requests per minute, tokens per minute, requests
// in flight, and daily and monthly spend budgets — in process (Memory) or fleet-wide through
// Redis (Redis), and shares vendor-credential cooldowns between replicas (Cooldowns).
//
// A subject is whatever the caller limits: a virtual key id, or a client IP for unauthenticated
// deployments.
//
// # Using it
//
//	t, denial, err := lim.Acquire(ctx, keyID, limits, estimatedTokens)
//	if err != nil { ... }            // only the caller's context error
//	if denial != nil {               // nothing was counted
//		denial.SetHeaders(w.Header()) // Retry-After, retry-after-ms, x-ratelimit-*
//		// answer denial.Status() (429, or 503 for "unavailable") with code denial.Code()
//		// ("rate_limit_exceeded", "budget_exceeded", "limiter_unavailable") and denial.Message()
//	}
//	t.Headers().Set(w.Header())      // x-ratelimit-* for every answer
//	defer t.Done(ctx, usage.TotalTokens, cost) // always, on failure too (-1 tokens: unknown)
//
// # Rate limits: GCRA
//
// RPM and TPM are the generic cell rate algorithm (a token bucket kept as a single "level"):
// a limit of N per minute admits a burst of N, then one more every 60s/N, refilling
// continuously as OpenAI's own limits do. There is no fixed window edge where 2N could pass.
// State per subject is O(1) (two levels and a timestamp), and the arithmetic is exact integers:
// one request (or token) adds 60000 to the level, the level drains by N per millisecond, a
// request fits while level+cost <= N*60000. Memory and Redis run the same formulas (Redis in
// Lua), so both give the same answers, and Retry-After is exact to the millisecond:
// the time until the level has drained enough for this request.
//
// Tokens are counted from the caller's estimate at Acquire and corrected to the real usage at
// Done (a refund if the estimate was high, a debt that delays later requests if it was low). An
// estimate above the whole TPM is clamped to it: such a request waits for a full bucket instead
// of never fitting.
//
// Headers: x-ratelimit-limit-* is N, remaining-* is what fits right now, and reset-* is the
// time until the bucket is full again ("1s", "6m0s", as OpenAI formats them).
//
// # Parallel requests and budgets
//
// MaxParallel counts tickets not yet Done. In Redis each slot is a member of a sorted set with a
// lease (RedisOptions.Lease, renewed every Lease/3 while the request runs), so slots of a
// replica that dies come back on their own.
//
// Budgets compare the spend so far in the current UTC day and UTC month with the budget:
// a request is admitted while spend < budget (its own cost is only known at Done, so the last
// request may overshoot a little). Denials wait until the period ends (00:00 UTC, the 1st of
// the month). Spend is kept in integer units of 1e-9 so that it adds up exactly; it is tracked
// only for subjects with a budget.
//
// When several limits refuse a request, the reason is the first of budget_monthly,
// budget_daily, rpm, tpm, parallel, and RetryAfter the longest wait among them.
//
// # Memory
//
// 128 mutex-protected shards of subjects; Acquire and Done are O(1) and do not allocate for a
// known subject (tickets come from per-shard slabs). No goroutines or timers: each request may
// sweep one shard of idle subjects (nothing in flight, windows drained, no spend this month),
// so every shard is swept once per minute and memory stays bounded by the active subjects.
//
// # Redis
//
// Every check-and-count is one Lua script run with EVALSHA (EVAL on NOSCRIPT), so a limit of 100
// rpm is 100 across the fleet. Keys are PREFIX{subject}:s (levels), :p (in-flight set),
// :d:YYYYMMDD and :m:YYYYMM (spend); all expire by themselves. Time is each replica's clock
// (keep NTP on); a clock running behind never drains a window backwards.
//
// When a Redis call fails, a breaker opens: requests stop touching Redis and are served by a
// local Memory limiter (FailOpen; limits then hold per replica, and budgets start from the
// spend Redis last reported) or refused with reason "unavailable" (FailClosed). Health reports
// it. A background loop PINGs Redis every ProbeInterval; when it answers, the cost of requests
// that ended meanwhile is written back in per-subject batches, each carrying a token that makes
// a retry a no-op, so nothing is counted twice; then Redis is used again. A Done whose write
// timed out (it may or may not have been applied) is not retried, and is counted in
// Status.LostUpdates.
//
// Build the client with NewRedisClient (or RedisClientOptions): go-redis' default retries
// could run a script twice and its 5s timeouts would let a hung Redis stall requests.
package limit
