//go:build !unix

package rawsock

import "net"

// Quiet cannot probe here: every connection is reported quiet.
func Quiet(net.Conn) bool { return true }
