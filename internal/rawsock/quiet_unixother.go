//go:build unix && !linux

package rawsock

import (
	"net"
	"syscall"
)

// Quiet reports whether c, a connection on which nothing is expected from
// the peer, is still open with nothing to read (see the Linux version).
func Quiet(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	quiet := false
	var b [1]byte
	if err := rc.Read(func(fd uintptr) bool {
		for {
			_, err := syscall.Read(int(fd), b[:])
			if err == syscall.EINTR {
				continue
			}
			quiet = err == syscall.EAGAIN
			return true
		}
	}); err != nil {
		return false
	}
	return quiet
}
