package limit

import (
	"strings"
	"testing"
)

// A Redis URL that does not parse is refused without quoting it: the
// error reaches the startup log, and the URL carries the password.
func TestRedisURLErrorHidesThePassword(t *testing.T) {
	for _, u := range []string{
		"redis://:s3cr3t-pw%zz@127.0.0.1:6379/0",  // a bad escape
		"redis://user:s3cr3t-pw@127.0.0.1:63x9/0", // a bad port
		"rediss://:s3cr3t-pw@host name:6379/0",    // a space in the host
		"redis://:s3cr3t-pw@127.0.0.1:6379/abc",   // go-redis's own check
	} {
		_, err := RedisClientOptions(u)
		if err == nil {
			t.Errorf("%s: accepted", u)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}
