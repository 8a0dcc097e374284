package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat. It is
// 100 on every Linux ABI Go supports; reading sysconf would need cgo.
const clockTicks = 100

// proc is a child process of the benchmark: upstream, proxy or gateway.
type proc struct {
	name     string
	cmd      *exec.Cmd
	pid      int
	out      *tailBuffer
	exited   chan struct{}
	waitErr  error
	graceful bool // stop with SIGTERM first (nginx: the master stops its workers)
}

// startProc runs bin with args, pinned to cpu (with taskset) when cpu >= 0.
// The process is killed when ctx ends, and also if the benchmark itself
// dies (Pdeathsig), so no child outlives a run. A graceful process gets
// SIGTERM first (nginx's master then stops its workers).
func startProc(ctx context.Context, name string, cpu int, graceful bool, env []string, bin string, args ...string) (*proc, error) {
	argv := append([]string{bin}, args...)
	if cpu >= 0 {
		ts, err := exec.LookPath("taskset")
		if err != nil {
			return nil, fmt.Errorf("pin %s: %w", name, err)
		}
		// taskset execs bin in place, so the PID is the target's.
		argv = append([]string{ts, "-c", strconv.Itoa(cpu)}, argv...)
	}
	p := &proc{name: name, out: newTailBuffer(8 << 10), exited: make(chan struct{}), graceful: graceful}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.Env = append(os.Environ(), env...)
	setProcAttr(cmd, graceful)
	cmd.Cancel = func() error { killGroup(cmd.Process.Pid); return cmd.Process.Kill() }
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.cmd, p.pid = cmd, cmd.Process.Pid
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// stop ends the process and everything in its process group.
func (p *proc) stop() {
	if p == nil || p.cmd == nil {
		return
	}
	if p.graceful {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(3 * time.Second):
		}
	}
	killGroup(p.pid)
	p.cmd.Process.Kill()
	select {
	case <-p.exited:
	case <-time.After(3 * time.Second):
	}
}

func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// failure describes why a process is not serving, with its last output.
func (p *proc) failure(err error) error {
	out := strings.TrimSpace(p.out.String())
	if !p.alive() {
		err = fmt.Errorf("%s exited (%v)", p.name, p.waitErr)
	}
	if out != "" {
		return fmt.Errorf("%w; its output ends:\n%s", err, out)
	}
	return err
}

// pids is the process and, for nginx, its workers: everything whose CPU
// and memory count as "the proxy". Only nginx (the graceful process) has
// workers, so only it pays for the scan of /proc; the others are sampled
// every few milliseconds in the idle and overload scenarios.
func (p *proc) pids() []int {
	if !p.graceful {
		return []int{p.pid}
	}
	return append([]int{p.pid}, childPIDs(p.pid)...)
}

// cpuTicks is the CPU time (user+system, all threads) of p and its children.
func (p *proc) cpuTicks() uint64 {
	var t uint64
	for _, pid := range p.pids() {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
			if _, ticks, err := parseStat(b); err == nil {
				t += ticks
			}
		}
	}
	return t
}

// rssKiB is the resident memory of p and its children, summed.
func (p *proc) rssKiB() int64 {
	var kib int64
	for _, pid := range p.pids() {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status"); err == nil {
			if v, err := parseVmRSS(b); err == nil {
				kib += v
			}
		}
	}
	return kib
}

// selfCPUTicks is the benchmark process's own CPU time.
func selfCPUTicks() uint64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	_, t, _ := parseStat(b)
	return t
}

// childPIDs scans /proc for processes whose parent is pid (nginx workers);
// /proc/PID/task/*/children needs a kernel option, this does not.
func childPIDs(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil || c == pid {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if ppid, _, err := parseStat(b); err == nil && ppid == pid {
			out = append(out, c)
		}
	}
	return out
}

// parseStat reads the parent PID and utime+stime (in clock ticks) from the
// contents of /proc/PID/stat. The command name may hold spaces and
// parentheses, so fields are counted from the last ')'.
func parseStat(b []byte) (ppid int, ticks uint64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("stat: no ')'")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("stat: %d fields after the name", len(f))
	}
	if ppid, err = strconv.Atoi(f[1]); err != nil {
		return 0, 0, fmt.Errorf("stat ppid: %w", err)
	}
	ut, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("stat utime: %w", err)
	}
	st, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("stat stime: %w", err)
	}
	return ppid, ut + st, nil
}

// parseVmRSS reads VmRSS in KiB from the contents of /proc/PID/status.
func parseVmRSS(b []byte) (int64, error) {
	for _, line := range strings.Split(string(b), "\n") {
		v, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("status: odd VmRSS line %q", line)
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, errors.New("status: no VmRSS (kernel thread or zombie)")
}

// machineBusyTicks is the CPU time all CPUs spent busy (not idle or
// waiting for I/O), from the "cpu" line of /proc/stat.
func machineBusyTicks() uint64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	busy, _ := parseProcStat(b)
	return busy
}

// parseProcStat reads the aggregate "cpu" line of /proc/stat: user nice
// system idle iowait irq softirq steal .... Busy counts user, nice, system
// and steal: irq and softirq time is mostly the loopback traffic of this
// very benchmark, which no process is charged with.
func parseProcStat(b []byte) (busy uint64, err error) {
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: odd first line %q", line)
	}
	for i, v := range f[1:] {
		if i >= 8 { // guest time is already in user
			break
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		if i <= 2 || i == 7 {
			busy += n
		}
	}
	return busy, nil
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitListening waits until addr accepts connections, or p dies.
func waitListening(ctx context.Context, p *proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if !p.alive() {
			return p.failure(err)
		}
		if time.Now().After(deadline) {
			return p.failure(fmt.Errorf("%s did not listen on %s within %v", p.name, addr, timeout))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// tailBuffer keeps the last bytes a child wrote, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
