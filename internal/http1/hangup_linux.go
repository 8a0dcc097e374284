package http1

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

var errTooManyFiles = syscall.EMFILE

// hangupWatcher learns that clients went away without a goroutine per
// request reading ahead (net/http's way): every lean connection sits, edge
// triggered, in one epoll set that reports only a peer's close or reset,
// and that set is waited on through Go's own poller.
type hangupWatcher struct {
	file  *os.File        // the epoll set, registered with Go's poller
	set   syscall.RawConn // the set's descriptor, for epoll_ctl
	next  atomic.Uint64
	mu    sync.Mutex
	conns map[uint64]*conn
	done  chan struct{}
}

func newHangupWatcher() (*hangupWatcher, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	h := &hangupWatcher{file: os.NewFile(uintptr(epfd), "http1-hangups"),
		conns: map[uint64]*conn{}, done: make(chan struct{})}
	rc, err := h.file.SyscallConn()
	if err != nil {
		h.file.Close()
		return nil, err
	}
	h.set = rc
	go h.run(rc)
	return h, nil
}

func (h *hangupWatcher) run(rc syscall.RawConn) {
	defer close(h.done)
	events := make([]syscall.EpollEvent, 64)
	rc.Read(func(fd uintptr) bool {
		for {
			n, err := syscall.EpollWait(int(fd), events, 0)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				return true // the set is gone: stop
			}
			for _, ev := range events[:n] {
				tok := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
				h.mu.Lock()
				c := h.conns[tok]
				h.mu.Unlock()
				if c != nil {
					c.hangup()
				}
			}
			if n < len(events) {
				return false // drained: wait for the set to become ready again
			}
		}
	})
}

// add watches c's socket; false means it cannot be watched.
func (h *hangupWatcher) add(c *conn) bool {
	sc, ok := c.rwc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	c.token = h.next.Add(1)
	h.mu.Lock()
	h.conns[c.token] = c
	h.mu.Unlock()
	var cerr error
	err = rc.Control(func(fd uintptr) {
		ev := syscall.EpollEvent{Events: syscall.EPOLLRDHUP | syscall.EPOLLHUP | syscall.EPOLLERR | -syscall.EPOLLET,
			Fd: int32(uint32(c.token)), Pad: int32(uint32(c.token >> 32))}
		cerr = h.ctl(syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err != nil || cerr != nil {
		h.forget(c)
		return false
	}
	return true
}

// remove stops watching c; the socket must still be open (a closed one has
// left the set by itself, and its number may already be someone else's).
func (h *hangupWatcher) remove(c *conn) {
	if h == nil || c.token == 0 {
		return
	}
	if sc, ok := c.rwc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) {
				h.ctl(syscall.EPOLL_CTL_DEL, int(fd), nil)
			})
		}
	}
	h.forget(c)
}

// ctl is epoll_ctl on the set, which is held open meanwhile: once the
// watcher is closed it fails, rather than reaching whatever descriptor
// has since taken the set's number (a connection accepted as the server
// closes gets here late).
func (h *hangupWatcher) ctl(op, fd int, ev *syscall.EpollEvent) error {
	var err error
	if cerr := h.set.Control(func(epfd uintptr) {
		err = syscall.EpollCtl(int(epfd), op, fd, ev)
	}); cerr != nil {
		return cerr
	}
	return err
}

func (h *hangupWatcher) forget(c *conn) {
	h.mu.Lock()
	delete(h.conns, c.token)
	h.mu.Unlock()
	c.token = 0
}

func (h *hangupWatcher) close() {
	h.file.Close()
	<-h.done
}
