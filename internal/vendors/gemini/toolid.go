package gemini

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
)

// Tool call ids carry Gemini's thoughtSignature.
//
// Gemini attaches an opaque thoughtSignature to the function calls of
// thinking models and requires it back on those calls in the next request
// (Gemini 3 answers 400 without it: ai.google.dev/gemini-api/docs/thought-signatures).
// OpenAI clients echo only a tool call's id, name and arguments, so the
// signature travels inside the id, and the gateway stays stateless: any
// replica, after any restart, can put it back.
//
//	call_<24 alphanumerics>                      no signature
//	call_<24 alphanumerics>_sb<base64url bytes>  a standard-base64 signature, re-encoded
//	call_<24 alphanumerics>_sr<base64url text>   any other signature text, verbatim
//
// Only [A-Za-z0-9_-] is used, so the id survives clients and vendors that
// restrict ids to that alphabet (Anthropic does), and OpenAI's own ids
// ("call_" + 24 alphanumerics) never parse as carrying a signature.

const (
	idPrefix  = "call_"
	idRandLen = 24
	markBytes = "_sb"
	markRaw   = "_sr"
)

const alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomAlnum is n random alphanumerics from crypto/rand.
func randomAlnum(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics instead)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

// newCallID is the default tool call id source: "call_" + 24 random
// alphanumerics, as OpenAI's own ids look.
func newCallID() string { return idPrefix + randomAlnum(idRandLen) }

// withSignature appends sig to a plain call id.
func withSignature(id, sig string) string {
	if sig == "" {
		return id
	}
	if b, err := base64.StdEncoding.DecodeString(sig); err == nil && base64.StdEncoding.EncodeToString(b) == sig {
		return id + markBytes + base64.RawURLEncoding.EncodeToString(b)
	}
	return id + markRaw + base64.RawURLEncoding.EncodeToString([]byte(sig))
}

// signatureFromID recovers the signature withSignature put into id, or ""
// when id carries none (or is not one of ours).
func signatureFromID(id string) string {
	head := len(idPrefix) + idRandLen
	if len(id) <= head+len(markBytes) || !strings.HasPrefix(id, idPrefix) {
		return ""
	}
	for i := len(idPrefix); i < head; i++ {
		if strings.IndexByte(alnum, id[i]) < 0 {
			return ""
		}
	}
	mark, payload := id[head:head+len(markBytes)], id[head+len(markBytes):]
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || len(b) == 0 {
		return ""
	}
	switch mark {
	case markBytes:
		return base64.StdEncoding.EncodeToString(b)
	case markRaw:
		return string(b)
	}
	return ""
}
