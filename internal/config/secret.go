package config

import (
	"fmt"
	"slices"

	"github.com/genrouter/genrouter/internal/secret"
)

// Credentials at rest: any credential value (a vendor's credential key, a
// vendor header value, a legacy credentials.json value, a key from the
// environment) may be "enc:v1:<base64>" (see package secret). Loaders
// decrypt such values after ${VAR} expansion, with the key from their
// LookupFunc's GENROUTER_SECRET_KEY, before Validate; Validate then refuses
// any value still encrypted, so a ciphertext is never sent upstream as a key.
//
// Errors name the credential's path and never contain any part of a value
// or of the key.

// secrets decrypts values for one load. The key is read and parsed only
// when the first encrypted value shows up, so configs without encrypted
// values never need GENROUTER_SECRET_KEY.
type secrets struct {
	env    LookupFunc
	key    []byte
	keyErr error
	loaded bool
}

func newSecrets(env LookupFunc) *secrets {
	return &secrets{env: env.orOS()}
}

// open returns value decrypted if it is encrypted, else unchanged. Its
// errors are meant to follow the credential's path ("path: " + err).
func (s *secrets) open(value string) (string, error) {
	if !secret.IsEncrypted(value) {
		return value, nil
	}
	if !s.loaded {
		s.loaded = true
		switch raw := s.env.get(secret.EnvKey); {
		case raw == "":
			s.keyErr = fmt.Errorf("value is encrypted but %s is not set", secret.EnvKey)
		default:
			if s.key, s.keyErr = secret.ParseKey(raw); s.keyErr != nil {
				s.keyErr = fmt.Errorf("cannot decrypt: %s: %w", secret.EnvKey, s.keyErr)
			}
		}
	}
	if s.keyErr != nil {
		return "", s.keyErr
	}
	plain, err := secret.Decrypt(s.key, value)
	if err != nil {
		return "", fmt.Errorf("cannot decrypt: %w", err)
	}
	return plain, nil
}

// openVendors decrypts the credential keys and header values of every
// vendor in place; paths are vendors[i].credentials[j] and
// vendors[i].headers.NAME.
func (s *secrets) openVendors(vendors []Vendor) error {
	for i := range vendors {
		v := &vendors[i]
		for j := range v.Credentials {
			k, err := s.open(v.Credentials[j].Key)
			if err != nil {
				return fmt.Errorf("vendors[%d].credentials[%d]: %w", i, j, err)
			}
			v.Credentials[j].Key = k
		}
		names := make([]string, 0, len(v.Headers))
		for name := range v.Headers {
			names = append(names, name)
		}
		slices.Sort(names) // the first error is the same every time
		for _, name := range names {
			h, err := s.open(v.Headers[name])
			if err != nil {
				return fmt.Errorf("vendors[%d].headers.%s: %w", i, name, err)
			}
			v.Headers[name] = h
		}
	}
	return nil
}

// openEnvKeys decrypts keys read from the environment variable name; the
// path is the variable, with an index when it lists several keys.
func (s *secrets) openEnvKeys(creds []Credential, name string) error {
	for j := range creds {
		k, err := s.open(creds[j].Key)
		if err != nil {
			if len(creds) > 1 {
				return fmt.Errorf("%s[%d]: %w", name, j, err)
			}
			return fmt.Errorf("%s: %w", name, err)
		}
		creds[j].Key = k
	}
	return nil
}

// checkNotEncrypted is Validate's guard: a value still encrypted here was
// either loaded by code that skipped decryption or encrypted twice.
func checkNotEncrypted(v *Vendor, path string) error {
	for j, cr := range v.Credentials {
		if secret.IsEncrypted(cr.Key) {
			return fmt.Errorf("%s.credentials[%d]: still encrypted after loading (encrypted twice?)", path, j)
		}
	}
	for name, h := range v.Headers {
		if secret.IsEncrypted(h) {
			return fmt.Errorf("%s.headers.%s: still encrypted after loading (encrypted twice?)", path, name)
		}
	}
	return nil
}
