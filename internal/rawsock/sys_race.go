//go:build linux && race

package rawsock

import "syscall"

// Under the race detector, reads and writes go through package syscall,
// which tells the detector that a write to a socket happens before the
// read that gets it; raw calls would leave programs that order their
// goroutines through a socket reported as racy.
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) { return call(syscall.Read(int(fd), p)) }

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) { return call(syscall.Write(int(fd), p)) }

func call(n int, err error) (int, syscall.Errno) {
	if err != nil {
		return 0, err.(syscall.Errno)
	}
	return n, 0
}
