package rawsock

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Conn is a TCP connection whose Read and Write enter the kernel with
// RawSyscall. A plain net.Conn enters every read and write through
// entersyscall, which on a process that keeps going idle between
// requests wakes the runtime's sysmon thread each time: on one pinned
// CPU that is two more context switches per request, paid in latency.
// The socket is non-blocking, so the raw call returns at once (EAGAIN
// parks the goroutine on the poller as usual) and never holds its P
// for more than the copy into or out of the socket buffer.
type Conn struct {
	*net.TCPConn
	rc syscall.RawConn
}

// Wrap returns c with raw reads and writes when c is a TCP connection,
// else c itself.
func Wrap(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return &Conn{TCPConn: tc, rc: rc}
}

func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n uintptr
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			n, _, errno = unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			if errno != syscall.EINTR {
				return errno != syscall.EAGAIN
			}
		}
	})
	if err != nil {
		return 0, c.opError("read", err)
	}
	if errno != 0 {
		return 0, c.opError("read", os.NewSyscallError("read", errno))
	}
	if n == 0 {
		return 0, io.EOF
	}
	return int(n), nil
}

func (c *Conn) Write(p []byte) (int, error) {
	var done int
	var errno syscall.Errno
	for done < len(p) {
		err := c.rc.Write(func(fd uintptr) bool {
			for done < len(p) {
				n, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[done])), uintptr(len(p)-done))
				switch e {
				case 0:
					done += int(n)
				case syscall.EINTR:
				case syscall.EAGAIN:
					return false
				default:
					errno = e
					return true
				}
			}
			return true
		})
		if err != nil {
			return done, c.opError("write", err)
		}
		if errno != 0 {
			return done, c.opError("write", os.NewSyscallError("write", errno))
		}
	}
	return done, nil
}

// opError shapes an error as net.Conn's own methods do, so callers that
// look for *net.OpError, timeouts or net.ErrClosed see the same thing.
func (c *Conn) opError(op string, err error) error {
	var ne *net.OpError
	if errors.As(err, &ne) {
		e := *ne // RawConn says "raw-read"; callers expect "read"
		e.Op = op
		return &e
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
