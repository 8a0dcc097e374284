package store

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
)

// SecretPrefix starts every virtual key secret.
const SecretPrefix = "sk-gr-"

// secretRandomLen is the number of random base62 characters after SecretPrefix
// (about 190 bits).
const secretRandomLen = 32

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomBase62 returns n characters drawn uniformly from base62 with
// crypto/rand (rejection sampling, so no modulo bias).
func randomBase62(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/2)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			panic("store: crypto/rand failed: " + err.Error()) // never happens on supported platforms
		}
		for _, b := range buf {
			if b >= 62*4 { // 248..255 would bias the distribution
				continue
			}
			out = append(out, base62[b%62])
			if len(out) == n {
				break
			}
		}
	}
	return string(out)
}

// NewSecret returns a new virtual key secret: "sk-gr-" and 32 random base62
// characters.
func NewSecret() string { return SecretPrefix + randomBase62(secretRandomLen) }

// HashSecret returns what the store keeps of a secret and what KeyByHash
// looks up: the lowercase hex SHA-256 of the secret.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// DisplayPrefix is how a secret is shown once it is gone: its first 10
// characters and an ellipsis ("sk-gr-AbCd…").
func DisplayPrefix(secret string) string {
	if len(secret) <= 10 {
		return "…" // never show a whole (odd, short) secret
	}
	return secret[:10] + "…"
}

func newKeyID() string { return "key_" + randomBase62(16) }
