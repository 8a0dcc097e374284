package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

var testKey = bytes.Repeat([]byte{0x42}, KeySize)

func TestRoundTrip(t *testing.T) {
	for _, plain := range []string{
		"sk-proj-abcdefghijklmnopqrstuvwxyz0123456789",
		"x",
		"",
		"key with spaces, commas, $$ and ${VAR}",
		"ünïcødé 🔑",
		strings.Repeat("k", 4096),
		"line1\nline2",
	} {
		v, err := Encrypt(testKey, plain)
		if err != nil {
			t.Fatal(err)
		}
		if !IsEncrypted(v) || !strings.HasPrefix(v, "enc:v1:") {
			t.Fatalf("not marked as encrypted: %q", v)
		}
		if len(plain) >= 8 && strings.Contains(v, plain) {
			t.Fatalf("ciphertext contains the plaintext")
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(v, Prefix))
		if err != nil || len(raw) != nonceSize+len(plain)+tagSize {
			t.Fatalf("layout: %v, %d bytes for %d", err, len(raw), len(plain))
		}
		got, err := Decrypt(testKey, v)
		if err != nil || got != plain {
			t.Fatalf("Decrypt = %q, %v; want %q", got, err, plain)
		}
		// A fresh nonce each time.
		if v2, _ := Encrypt(testKey, plain); v2 == v {
			t.Fatal("two encryptions of the same value are equal")
		}
	}
}

// Unpadded base64 after the prefix is accepted too.
func TestDecryptUnpadded(t *testing.T) {
	for _, plain := range []string{"a", "ab", "abc"} {
		v, _ := Encrypt(testKey, plain)
		got, err := Decrypt(testKey, strings.TrimRight(v, "="))
		if err != nil || got != plain {
			t.Errorf("%q: %q, %v", plain, got, err)
		}
	}
}

// Changing any byte of the sealed blob, or any character of the text, is
// detected.
func TestTamperDetection(t *testing.T) {
	const plain = "sk-tamper-test-0123456789"
	v, _ := Encrypt(testKey, plain)
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(v, Prefix))
	for i := range raw {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(raw)
			b[i] ^= flip
			damaged := Prefix + base64.StdEncoding.EncodeToString(b)
			if got, err := Decrypt(testKey, damaged); err == nil {
				t.Fatalf("byte %d ^ %#x: decrypted to %q", i, flip, got)
			} else {
				checkErr(t, err, damaged, plain)
			}
		}
	}
	for i := len(Prefix); i < len(v); i++ {
		for _, c := range []byte{'A', 'z', '=', '+', '!'} {
			if v[i] == c {
				continue
			}
			damaged := v[:i] + string(c) + v[i+1:]
			if _, err := Decrypt(testKey, damaged); err == nil {
				t.Fatalf("char %d -> %c accepted", i, c)
			} else {
				checkErr(t, err, damaged, plain)
			}
		}
	}
	// Truncated and extended.
	for _, damaged := range []string{v[:len(v)-4], v[:len(Prefix)+8], Prefix, v + "AAAA", Prefix + "!!!!"} {
		if _, err := Decrypt(testKey, damaged); err == nil {
			t.Errorf("%d characters accepted", len(damaged))
		} else {
			checkErr(t, err, damaged, plain)
		}
	}
}

func TestWrongKeyAndWrongContext(t *testing.T) {
	const plain = "sk-wrong-key-test-0123456789"
	v, _ := Encrypt(testKey, plain)
	other := bytes.Repeat([]byte{0x43}, KeySize)
	_, err := Decrypt(other, v)
	if err == nil || !strings.Contains(err.Error(), "wrong GENROUTER_SECRET_KEY or damaged value") {
		t.Fatalf("wrong key: %v", err)
	}
	checkErr(t, err, v, plain)

	// Not an encrypted value at all.
	if _, err := Decrypt(testKey, plain); !errors.Is(err, ErrDecrypt) || strings.Contains(err.Error(), plain) {
		t.Errorf("plaintext: %v", err)
	}
	// A bad key length is an error, not a panic.
	if _, err := Encrypt(testKey[:16], plain); err == nil {
		t.Error("16-byte key accepted by Encrypt")
	}
	if _, err := Decrypt(nil, v); err == nil {
		t.Error("nil key accepted by Decrypt")
	}
}

func checkErr(t *testing.T, err error, value, plain string) {
	t.Helper()
	if !errors.Is(err, ErrDecrypt) {
		t.Errorf("error does not match ErrDecrypt: %v", err)
	}
	msg := err.Error()
	if strings.Contains(msg, plain) {
		t.Errorf("error quotes the plaintext: %s", msg)
	}
	body := strings.TrimPrefix(value, Prefix)
	for i := 0; i+6 <= len(body); i++ {
		if strings.Contains(msg, body[i:i+6]) {
			t.Fatalf("error quotes the value: %s", msg)
		}
	}
}

func TestParseKey(t *testing.T) {
	key := make([]byte, KeySize)
	for i := range key {
		key[i] = byte(i*7 + 0xf0) // exercises + and / (- and _ in URL base64)
	}
	std := base64.StdEncoding.EncodeToString(key)
	url := base64.URLEncoding.EncodeToString(key)
	if std == url {
		t.Fatal("test key does not tell the alphabets apart")
	}
	for name, s := range map[string]string{
		"hex":               hex.EncodeToString(key),
		"HEX":               strings.ToUpper(hex.EncodeToString(key)),
		"base64":            std,
		"base64 unpadded":   strings.TrimRight(std, "="),
		"url base64":        url,
		"url unpadded":      strings.TrimRight(url, "="),
		"surrounding space": "  " + std + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ParseKey(s)
			if err != nil || !bytes.Equal(got, key) {
				t.Fatalf("ParseKey = %x, %v", got, err)
			}
		})
	}
	for name, s := range map[string]string{
		"empty":            "",
		"blank":            "   ",
		"16 bytes base64":  base64.StdEncoding.EncodeToString(key[:16]),
		"33 bytes base64":  base64.StdEncoding.EncodeToString(append(bytes.Clone(key), 1)),
		"62 hex digits":    hex.EncodeToString(key[:31]),
		"66 hex digits":    hex.EncodeToString(append(bytes.Clone(key), 1)),
		"not hex, 64 long": strings.Repeat("zq!", 21) + "z",
		"passphrase":       "correct horse battery staple",
		"garbage":          "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseKey(s)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, "base64") || !strings.Contains(msg, "hex") {
				t.Errorf("error does not say what is expected: %s", msg)
			}
			// No 6-character piece of the input in the message.
			in := strings.TrimSpace(s)
			for i := 0; i+6 <= len(in); i++ {
				if strings.Contains(msg, in[i:i+6]) {
					t.Fatalf("error echoes the key (%q): %s", in[i:i+6], msg)
				}
			}
		})
	}
}

func TestNewKey(t *testing.T) {
	a, b := NewKey(), NewKey()
	if a == b {
		t.Fatal("NewKey repeats")
	}
	k, err := ParseKey(a)
	if err != nil || len(k) != KeySize {
		t.Fatalf("NewKey output does not parse: %v", err)
	}
	v, err := Encrypt(k, "x")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := Decrypt(k, v); err != nil || p != "x" {
		t.Fatal(p, err)
	}
}
