//go:build !linux

package bench

import (
	"errors"
	"os/exec"
)

// The benchmark reads /proc and pins with sched_setaffinity: Linux only.
// These stubs only keep the package building elsewhere.

func setProcAttr(cmd *exec.Cmd, graceful bool) {}

func killGroup(pid int) {}

func pinSelf(cpu int) error { return errors.New("pinning needs Linux") }
