package rawsock

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// Conn is a TCP connection whose Read and Write enter the kernel with
// RawSyscall. A plain net.Conn enters every read and write through
// entersyscall, which on a process that keeps going idle between
// requests wakes the runtime's sysmon thread each time: on one pinned
// CPU that is two more context switches per request, paid in latency.
// The socket is non-blocking, so the raw call returns at once (EAGAIN
// parks the goroutine on the poller as usual) and never holds its P
// for more than the copy into or out of the socket buffer. (Calling
// File on the connection would make the socket blocking: nothing here
// does.) Race-detector builds make the same calls the normal way
// (sys_race.go), since the detector learns its happens-before edges
// between socket writes and reads there.
type Conn struct {
	*net.TCPConn
	rc syscall.RawConn

	// One op each way, made once: a closure per call would be an
	// allocation per read and per write. The mutexes only order callers
	// that share the connection; the descriptor serializes them anyway.
	rmu, wmu sync.Mutex
	r, w     op
	q        op // Quiet's probe, guarded by rmu
	one      [1]byte
}

// op is one read or write in progress; do is its callback for RawConn,
// bound once.
type op struct {
	p     []byte
	n     int
	errno syscall.Errno
	do    func(fd uintptr) bool
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
	rw := &Conn{TCPConn: tc, rc: rc}
	rw.r.do, rw.w.do, rw.q.do = rw.r.read, rw.w.write, rw.q.poll
	return rw
}

// read makes one read; false (EAGAIN) has RawConn wait for readiness.
func (o *op) read(fd uintptr) bool {
	for {
		n, e := sysRead(fd, o.p)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		o.n, o.errno = n, e
		return true
	}
}

// poll makes one read and never waits: EAGAIN is an answer here.
func (o *op) poll(fd uintptr) bool {
	for {
		n, e := sysRead(fd, o.p)
		if e == syscall.EINTR {
			continue
		}
		o.n, o.errno = n, e
		return true
	}
}

// write writes until o.p is done, an error, or EAGAIN (false: wait for
// room, then come back for the rest).
func (o *op) write(fd uintptr) bool {
	for o.n < len(o.p) {
		n, e := sysWrite(fd, o.p[o.n:])
		switch e {
		case 0:
			if n == 0 { // a socket never does this; do not spin on it
				o.errno = syscall.EIO
				return true
			}
			o.n += n
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			o.errno = e
			return true
		}
	}
	return true
}

// nop lets an empty Read or Write still report a closed connection.
func nop(uintptr) bool { return true }

func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		if err := c.rc.Read(nop); err != nil {
			return 0, c.opError("read", err)
		}
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	o := &c.r
	o.p, o.n, o.errno = p, 0, 0
	err := c.rc.Read(o.do)
	n, errno := o.n, o.errno
	o.p = nil // do not pin the caller's buffer
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case errno != 0:
		return 0, c.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *Conn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		if err := c.rc.Write(nop); err != nil {
			return 0, c.opError("write", err)
		}
		return 0, nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	o := &c.w
	o.p, o.n, o.errno = p, 0, 0
	err := c.rc.Write(o.do)
	n, errno := o.n, o.errno
	o.p = nil
	switch {
	case err != nil:
		return n, c.opError("write", err)
	case errno != 0:
		return n, c.opError("write", os.NewSyscallError("write", errno))
	}
	return n, nil
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

// Quiet reports whether c, a connection on which nothing is expected from
// the peer (an idle client connection to a server), is still open with
// nothing to read: not closed by the peer (EOF), not reset, no stray bytes.
// It never waits. A byte it finds is consumed, which does not matter: the
// connection is not fit to carry a request then. Connections it cannot
// probe are reported quiet.
func Quiet(c net.Conn) bool {
	rc, ok := c.(*Conn)
	if !ok {
		return true
	}
	rc.rmu.Lock()
	defer rc.rmu.Unlock()
	o := &rc.q
	o.p, o.n, o.errno = rc.one[:], 0, 0
	err := rc.rc.Read(o.do)
	o.p = nil
	return err == nil && o.errno == syscall.EAGAIN
}
