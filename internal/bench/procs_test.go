package bench

import (
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "4242 (nginx: a (b) c) S 4241 4242 4242 0 -1 4194624 1051 0 0 0 1234 567 0 0 20 0 1 0 123456 12345678 1234 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 0 0 0 0 0 0\n"
	ppid, ticks, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if ppid != 4241 || ticks != 1234+567 {
		t.Fatalf("ppid %d ticks %d, want 4241 and %d", ppid, ticks, 1234+567)
	}
	for _, bad := range []string{"", "12 (x S 1", "12 (x) S 1 2 3", "12 (x) S notanumber 1 1 1 1 1 1 1 1 1 1 1"} {
		if _, _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) accepted", bad)
		}
	}
	// This process's own stat parses, and has used some CPU or none.
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip("no /proc")
	}
	if ppid, _, err := parseStat(b); err != nil || ppid != os.Getppid() {
		t.Fatalf("own stat: ppid %d err %v, want %d", ppid, err, os.Getppid())
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tgenrouter\nVmPeak:\t  12345 kB\nVmRSS:\t    8704 kB\nRssAnon:\t 4000 kB\n"
	kib, err := parseVmRSS([]byte(status))
	if err != nil || kib != 8704 {
		t.Fatalf("parseVmRSS = %d, %v", kib, err)
	}
	if _, err := parseVmRSS([]byte("Name:\tkthreadd\n")); err == nil {
		t.Error("status without VmRSS accepted")
	}
	if _, err := parseVmRSS([]byte("VmRSS:\t12 MB\n")); err == nil {
		t.Error("odd unit accepted")
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc")
	}
	if kib, err := parseVmRSS(b); err != nil || kib <= 0 {
		t.Fatalf("own VmRSS = %d, %v", kib, err)
	}
}

func TestKeepTail(t *testing.T) {
	var tail [8]byte
	n := 0
	for _, s := range []string{"abc", "defgh", "ij", "", "klmnopqrstu", "v"} {
		n = keepTail(tail[:], n, []byte(s))
	}
	if got := string(tail[:n]); got != "opqrstuv" {
		t.Fatalf("tail = %q", got)
	}
}

// oneByteReader hands out one byte per Read, so every boundary is split.
type oneByteReader struct{ s string }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	p[0] = r.s[0]
	r.s = r.s[1:]
	return 1, nil
}

func TestReadStream(t *testing.T) {
	good := "data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DONE]\n\n"
	buf := make([]byte, 64)
	if _, err := readStream(&oneByteReader{good}, buf, time.Now(), 3); err != nil {
		t.Fatalf("split stream: %v", err)
	}
	if _, err := readStream(strings.NewReader(good), buf, time.Now(), 3); err != nil {
		t.Fatalf("whole stream: %v", err)
	}
	for name, s := range map[string]string{
		"no done":      "data: {\"a\":1}\n\ndata: {\"a\":2}\n\n",
		"event lost":   "data: {\"a\":1}\n\ndata: [DONE]\n\n",
		"cut mid-done": "data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DO",
		"error event":  "data: {\"a\":1}\n\ndata: {\"error\":{}}\n\n",
	} {
		if _, err := readStream(&oneByteReader{s}, buf, time.Now(), 3); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestJSONScan(t *testing.T) {
	body := []byte(`{"messages":[{"role":"user","content":"the \"model\" is"}], "model" : "gpt-4o\"x", "stream_options":{}, "stream":true, "bench_gap_ms": 250}`)
	if got := string(jsonString(body, keyModel)); got != `gpt-4o\"x` {
		t.Errorf("model = %q", got)
	}
	if !jsonTrue(body, keyStream) {
		t.Error("stream not seen")
	}
	if v, ok := jsonInt(body, keyGap); !ok || v != 250 {
		t.Errorf("gap = %d, %v", v, ok)
	}
	plain := []byte(`{"model":"m","stream":false,"messages":[]}`)
	if jsonTrue(plain, keyStream) {
		t.Error("stream:false read as true")
	}
	if _, ok := jsonInt(plain, keyGap); ok {
		t.Error("absent gap found")
	}
	if jsonString([]byte(`{"model":5}`), keyModel) != nil {
		t.Error("non-string model accepted")
	}
}

func TestParseProcStat(t *testing.T) {
	stat := "cpu  100 5 50 1000 20 3 7 2 0 0\ncpu0 50 2 25 500 10 1 3 1 0 0\n"
	busy, err := parseProcStat([]byte(stat))
	if err != nil || busy != 100+5+50+2 {
		t.Fatalf("busy %d, %v", busy, err)
	}
	if _, err := parseProcStat([]byte("intr 1 2 3\n")); err == nil {
		t.Error("odd /proc/stat accepted")
	}
}
