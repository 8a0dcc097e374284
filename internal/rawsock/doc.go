// Package rawsock gives TCP connections reads and writes that do not
// wake the Go runtime's monitor thread on every call.
package rawsock
