// Package secret encrypts credentials at rest: a value "enc:v1:<base64>" is
// AES-256-GCM with a random 12-byte nonce and the additional data
// "genrouter:v1", base64 (standard encoding) of nonce || ciphertext || tag.
// The 32-byte key comes from GENROUTER_SECRET_KEY, written as base64 or as
// 64 hex digits.
//
// No error of this package ever contains a value or a key, not even a part
// of one: they end up in config errors and logs.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

const (
	// Prefix marks an encrypted value.
	Prefix = "enc:v1:"
	// EnvKey is the environment variable holding the key.
	EnvKey = "GENROUTER_SECRET_KEY"
	// KeySize is the key length in bytes (AES-256).
	KeySize = 32

	nonceSize = 12
	tagSize   = 16
	// aad binds the ciphertext to this use, so a value cannot be swapped
	// with the output of some other AES-GCM use of the same key.
	aad = "genrouter:v1"
)

// ErrDecrypt is matched (errors.Is) by every decryption failure: a wrong
// key, a damaged or truncated value, a value that is not encrypted.
var ErrDecrypt = errors.New("cannot decrypt")

// decryptError says why a value did not decrypt, never quoting it.
type decryptError string

func (e decryptError) Error() string        { return string(e) }
func (e decryptError) Is(target error) bool { return target == ErrDecrypt }

const (
	errWrongKey     = decryptError("wrong " + EnvKey + " or damaged value")
	errNotBase64    = decryptError("damaged value (not valid base64 after " + Prefix + ")")
	errTooShort     = decryptError("damaged value (too short)")
	errNotEncrypted = decryptError("not an encrypted value (want " + Prefix + "…)")
)

// ParseKey reads a key written as base64 (standard or URL alphabet, padded
// or not) or as 64 hex digits; surrounding white space is ignored. Its
// errors say what is expected and never echo s.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty key (want 32 bytes as base64, e.g. from `genrouter encrypt --new-key`, or as 64 hex digits)")
	}
	if len(s) == 2*KeySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) == KeySize {
				return k, nil
			}
			return nil, fmt.Errorf("key decodes to %d bytes, want %d (32 bytes as base64, e.g. from `genrouter encrypt --new-key`, or as 64 hex digits)", len(k), KeySize)
		}
	}
	return nil, fmt.Errorf("invalid key of %d characters (want 32 bytes as base64, 44 characters, e.g. from `genrouter encrypt --new-key`, or as 64 hex digits)", len(s))
}

// NewKey returns a fresh random key, base64 (standard, padded).
func NewKey() string {
	k := make([]byte, KeySize)
	rand.Read(k) // never fails (crypto/rand aborts the program instead)
	return base64.StdEncoding.EncodeToString(k)
}

// IsEncrypted reports whether s is an encrypted value (has the enc:v1:
// prefix); it does not check that it decrypts.
func IsEncrypted(s string) bool {
	return strings.HasPrefix(s, Prefix)
}

// Encrypt seals plaintext with key (32 bytes) under a fresh random nonce,
// so encrypting the same value twice gives different results.
func Encrypt(key []byte, plaintext string) (string, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return "", err
	}
	buf := make([]byte, nonceSize, nonceSize+len(plaintext)+tagSize)
	rand.Read(buf)
	buf = gcm.Seal(buf, buf[:nonceSize], []byte(plaintext), []byte(aad))
	return Prefix + base64.StdEncoding.EncodeToString(buf), nil
}

// Decrypt opens an enc:v1: value. A wrong key and a damaged value are
// indistinguishable by design (GCM authenticates both); every failure
// matches ErrDecrypt and none quotes the value.
func Decrypt(key []byte, value string) (string, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return "", err
	}
	b64, ok := strings.CutPrefix(value, Prefix)
	if !ok {
		return "", errNotEncrypted
	}
	// Strict: with lax decoding, changing the unused low bits of the last
	// character would give the same bytes, an undetected change.
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		if raw, err = base64.RawStdEncoding.Strict().DecodeString(b64); err != nil {
			return "", errNotBase64
		}
	}
	if len(raw) < nonceSize+tagSize {
		return "", errTooShort
	}
	plain, err := gcm.Open(nil, raw[:nonceSize], raw[nonceSize:], []byte(aad))
	if err != nil {
		return "", errWrongKey
	}
	return string(plain), nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("key must be %d bytes, got %d (use ParseKey)", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
