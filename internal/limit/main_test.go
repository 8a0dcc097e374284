package limit

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

const envRedisURL = "GENROUTER_TEST_REDIS_URL"

func TestMain(m *testing.M) {
	if os.Getenv(envRedisURL) == "" {
		fmt.Fprintln(os.Stderr, "\n"+
			"******************************************************************\n"+
			"*** Redis tests skipped: set GENROUTER_TEST_REDIS_URL          ***\n"+
			"*** (eval \"$(.ci/start-redis.sh | tail -1)\" starts one)        ***\n"+
			"******************************************************************")
	}
	goleak.VerifyTestMain(m)
}

// fakeClock is a settable clock shared by the limiters of a test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testBase is a fixed point in the future (real Redis deletes keys whose PEXPIREAT is past):
// 23:00 UTC on the day before the last day of next month.
func testBase() time.Time {
	now := time.Now().UTC()
	return time.Date(now.Year(), now.Month()+2, 1, 0, 0, 0, 0, time.UTC).Add(-25 * time.Hour)
}
