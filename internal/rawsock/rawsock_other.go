//go:build !linux

package rawsock

import "net"

// Wrap returns c unchanged: raw socket calls are used on Linux only.
func Wrap(c net.Conn) net.Conn { return c }
