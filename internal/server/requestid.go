package server

import (
	"encoding/hex"
	"math/rand/v2"
	"net/http"
)

// requestID keeps the client's X-Request-Id when it is sane, else makes one.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 128 && printable(id) {
		return id
	}
	var b [12]byte
	u1, u2 := rand.Uint64(), rand.Uint32()
	for i := 0; i < 8; i++ {
		b[i] = byte(u1 >> (8 * i))
	}
	for i := 0; i < 4; i++ {
		b[8+i] = byte(u2 >> (8 * i))
	}
	return "req_" + hex.EncodeToString(b[:])
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
