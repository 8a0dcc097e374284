package bench

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"unsafe"
)

// setProcAttr puts the child in its own process group (so a terminal's
// Ctrl-C reaches only the benchmark, which then stops children in order)
// and has the kernel signal it if the benchmark dies without cleaning up.
func setProcAttr(cmd *exec.Cmd, graceful bool) {
	sig := syscall.SIGKILL
	if graceful {
		sig = syscall.SIGTERM
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: sig}
}

// killGroup kills the process group led by pid (nginx workers included).
func killGroup(pid int) {
	syscall.Kill(-pid, syscall.SIGKILL)
	syscall.Kill(pid, syscall.SIGKILL)
}

// pinSelf pins every thread of this process to cpu. sched_setaffinity acts
// per thread; threads created later inherit the mask from their creator,
// so a second pass catches any thread born during the first.
// (golang.org/x/sys is not a dependency; the raw syscall is enough.)
func pinSelf(cpu int) error {
	var mask [16]uint64 // 1024 CPUs, the kernel's cpu_set_t size
	mask[cpu/64] = 1 << (cpu % 64)
	for pass := 0; pass < 2; pass++ {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY,
				uintptr(tid), unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask[0])))
			if errno != 0 && errno != syscall.ESRCH { // ESRCH: the thread just exited
				return fmt.Errorf("sched_setaffinity(%d): %w", tid, errno)
			}
		}
	}
	return nil
}
