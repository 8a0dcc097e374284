package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/vendors/fake"
)

// A stream still running when server.shutdown_grace runs out is cut by the
// shutdown; it must end with an in-band error event, never look complete
// and never end without a word, on both engines, and the process exits 0.
func TestShutdownGraceCutsStreamsWithAnError(t *testing.T) {
	for _, engine := range []string{"lean", "net/http"} {
		t.Run(strings.ReplaceAll(engine, "/", "_"), func(t *testing.T) {
			p, rest, rerr := streamThenSIGTERM(t, fake.Options{Chunks: 200, ChunkGap: 50 * time.Millisecond},
				fmt.Sprintf("server: {shutdown_grace: 300ms, engine: %s}\n", engine))
			t.Logf("read ended: err=%v, tail=%q", rerr, tail(rest))
			if strings.Contains(rest, "[DONE]") {
				t.Fatalf("a stream cut by shutdown looks complete")
			}
			if !strings.Contains(rest, `data: {"error"`) {
				t.Errorf("a stream cut by shutdown ends without an in-band error (read error %v)", rerr)
			}
			p.exitsCleanly(t)
		})
	}
}

func tail(s string) string {
	if len(s) > 300 {
		return s[len(s)-300:]
	}
	return s
}
