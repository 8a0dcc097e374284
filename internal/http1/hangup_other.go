//go:build !linux

package http1

import "errors"

var errTooManyFiles = errors.New("http1: no such error here")

// hangupWatcher exists on Linux only; elsewhere every connection is
// handed to net/http.
type hangupWatcher struct{}

func newHangupWatcher() (*hangupWatcher, error) {
	return nil, errors.New("http1: no hang-up watcher on this platform")
}

func (h *hangupWatcher) add(*conn) bool { return false }
func (h *hangupWatcher) remove(*conn)   {}
func (h *hangupWatcher) close()         {}
