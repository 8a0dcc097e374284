// Package store persists genrouter's virtual keys and its usage log.
//
// Two implementations share one schema and one set of versioned migrations:
// SQLite through the pure-Go modernc.org/sqlite driver (the default,
// ./data/genrouter.db) and PostgreSQL through pgx. Open picks one from a URL.
//
// Secrets of virtual keys are never stored: the store keeps the SHA-256 of the
// secret (HashSecret) and a short display prefix, and hands the secret back
// exactly once, from CreateKey and RotateKey.
//
// Usage rows are meant to be written through a Writer, which batches them in
// the background so that a slow or unavailable database never slows a request.
// StartRetention deletes old usage rows in small batches.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultSQLitePath is the database Open uses when given an empty URL.
const DefaultSQLitePath = "./data/genrouter.db"

// Errors returned by Store methods. Test with errors.Is.
var (
	// ErrNotFound: no key with that id or hash.
	ErrNotFound = errors.New("store: not found")
	// ErrRevoked: the operation needs a key that is not revoked (RotateKey).
	ErrRevoked = errors.New("store: key revoked")
	// ErrInvalid: an argument failed validation; the wrapping error says which.
	ErrInvalid = errors.New("store: invalid argument")
)

// Group-by values accepted by UsageTotals.
const (
	GroupNone       = ""           // one row with the overall totals (Group is "")
	GroupVendor     = "vendor"     // Group is the vendor name
	GroupModel      = "model"      // Group is the model served, or the model asked for when nothing served it
	GroupKey        = "key"        // Group is the virtual key id ("" for requests without one)
	GroupCredential = "credential" // Group is "vendor/credential" (credential names are only unique per vendor)
)

// Key is a virtual key. Its secret is not part of it: only Hash, the
// hex SHA-256 of the secret, and Prefix, for display, are kept.
type Key struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	Hash           string            `json:"-"`
	Prefix         string            `json:"prefix"`
	AllowedModels  []string          `json:"allowed_models"`  // empty: every model
	AllowedVendors []string          `json:"allowed_vendors"` // empty: every vendor
	RPM            int               `json:"rpm"`             // 0: unlimited
	TPM            int               `json:"tpm"`             // 0: unlimited
	MaxParallel    int               `json:"max_parallel"`    // 0: unlimited
	BudgetDaily    float64           `json:"budget_daily"`    // USD; 0: unlimited
	BudgetMonthly  float64           `json:"budget_monthly"`  // USD; 0: unlimited
	ExpiresAt      *time.Time        `json:"expires_at,omitempty"`
	Metadata       map[string]string `json:"metadata"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
	RevokedAt      *time.Time        `json:"revoked_at,omitempty"`
}

// Revoked reports whether the key was revoked.
func (k Key) Revoked() bool { return k.RevokedAt != nil }

// Expired reports whether the key has an expiry at or before now.
func (k Key) Expired(now time.Time) bool { return k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) }

// Usable reports whether the key may authenticate a request at now: neither
// revoked nor expired. KeyByHash returns keys in any state; callers check this.
func (k Key) Usable(now time.Time) bool { return !k.Revoked() && !k.Expired(now) }

// KeyParams are the settable fields of a new key. Name is required; numbers
// must not be negative (0 means unlimited).
type KeyParams struct {
	Name           string
	AllowedModels  []string
	AllowedVendors []string
	RPM            int
	TPM            int
	MaxParallel    int
	BudgetDaily    float64
	BudgetMonthly  float64
	ExpiresAt      *time.Time
	Metadata       map[string]string
}

// KeyPatch is a partial update: nil fields are left untouched. Slices and
// Metadata replace the stored value as a whole. To remove an expiry set
// ClearExpiresAt (it wins over ExpiresAt).
type KeyPatch struct {
	Name           *string
	AllowedModels  *[]string
	AllowedVendors *[]string
	RPM            *int
	TPM            *int
	MaxParallel    *int
	BudgetDaily    *float64
	BudgetMonthly  *float64
	ExpiresAt      *time.Time
	ClearExpiresAt bool
	Metadata       *map[string]string
}

// Usage is one row of the usage log: one request through the gateway.
type Usage struct {
	Time             time.Time `json:"time"` // when the request started; zero means now
	RequestID        string    `json:"request_id"`
	KeyID            string    `json:"key_id"` // virtual key id, "" without one
	Vendor           string    `json:"vendor"`
	Credential       string    `json:"credential"` // the credential's name, never the key
	ModelAsked       string    `json:"model_asked"`
	ModelServed      string    `json:"model_served"`
	Status           int       `json:"status"`
	ErrorClass       string    `json:"error_class"` // "" on success
	LatencyMs        float64   `json:"latency_ms"`
	TTFBMs           float64   `json:"ttfb_ms"`
	PromptTokens     int64     `json:"prompt_tokens"`
	CompletionTokens int64     `json:"completion_tokens"`
	CachedTokens     int64     `json:"cached_tokens"`
	Cost             float64   `json:"cost"` // USD
	Attempts         int       `json:"attempts"`
	Stream           bool      `json:"stream"`
}

// IsError reports whether the row counts as an error in Totals and in
// Filter.ErrorsOnly: a status of 400 or more, or a non-empty error class
// (a stream that failed after its 200 header, for instance).
func (u Usage) IsError() bool { return u.Status >= 400 || u.ErrorClass != "" }

// Totals aggregates usage rows over a time range for one group.
type Totals struct {
	Group            string  `json:"group"`
	Requests         int64   `json:"requests"`
	Errors           int64   `json:"errors"` // rows for which Usage.IsError holds
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	CachedTokens     int64   `json:"cached_tokens"`
	Cost             float64 `json:"cost"`
	AvgLatencyMs     float64 `json:"avg_latency_ms"`
	AvgTTFBMs        float64 `json:"avg_ttfb_ms"`
}

// Filter selects rows for RecentRequests. Zero values do not filter.
type Filter struct {
	From       time.Time // inclusive
	To         time.Time // exclusive
	KeyID      string
	Vendor     string
	Model      string // matches the model asked for or the model served
	Status     int    // exact HTTP status
	ErrorsOnly bool   // only rows for which Usage.IsError holds
	Limit      int    // default DefaultRecentLimit, at most MaxRecentLimit
}

// Limits of RecentRequests.
const (
	DefaultRecentLimit = 100
	MaxRecentLimit     = 10000
)

// DefaultDeleteBatch is the batch size DeleteUsageBefore uses for batch <= 0.
const DefaultDeleteBatch = 1000

// Store is the persistence the gateway needs. Both implementations are safe
// for concurrent use. All times returned are UTC with microsecond precision.
type Store interface {
	// CreateKey stores a new key and returns it with its secret, which is
	// never available again.
	CreateKey(ctx context.Context, p KeyParams) (Key, string, error)
	// GetKey returns the key with that id, or ErrNotFound.
	GetKey(ctx context.Context, id string) (Key, error)
	// KeyByHash returns the key whose secret hashes (HashSecret) to hash, or
	// ErrNotFound. Revoked and expired keys are returned too: check Key.Usable.
	KeyByHash(ctx context.Context, hash string) (Key, error)
	// ListKeys returns every key, revoked ones included, oldest first.
	ListKeys(ctx context.Context) ([]Key, error)
	// UpdateKey applies a partial update and returns the updated key. A
	// revoked key can be patched; it stays revoked.
	UpdateKey(ctx context.Context, id string, p KeyPatch) (Key, error)
	// RevokeKey revokes a key at once. Revoking a revoked key is a no-op.
	RevokeKey(ctx context.Context, id string) error
	// RotateKey gives a key a new secret; the old secret stops matching.
	// A revoked key cannot be rotated (ErrRevoked).
	RotateKey(ctx context.Context, id string) (Key, string, error)

	// InsertUsage writes rows in one transaction: all or none.
	InsertUsage(ctx context.Context, rows []Usage) error
	// UsageTotals aggregates rows with from <= Time < to (a zero bound is
	// open) by groupBy (GroupNone, GroupVendor, GroupModel, GroupKey,
	// GroupCredential), most requests first.
	UsageTotals(ctx context.Context, from, to time.Time, groupBy string) ([]Totals, error)
	// RecentRequests returns rows matching f, newest first.
	RecentRequests(ctx context.Context, f Filter) ([]Usage, error)
	// SpendSince returns the cost of a key's rows with Time >= since.
	SpendSince(ctx context.Context, keyID string, since time.Time) (float64, error)
	// DeleteUsageBefore deletes rows with Time < before, batch rows per
	// statement, and returns how many it deleted. It stops early, with the
	// count so far, when ctx ends.
	DeleteUsageBefore(ctx context.Context, before time.Time, batch int) (int64, error)

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// Open opens (creating and migrating as needed) the store a URL names:
//
//	postgres://user:pass@host:5432/db?sslmode=disable   PostgreSQL (postgresql:// too)
//	sqlite:///abs/path/genrouter.db                      SQLite, absolute path
//	sqlite://data/genrouter.db                           SQLite, relative path
//	data/genrouter.db                                    SQLite, plain path
//	""                                                   SQLite at DefaultSQLitePath
//
// The path ":memory:" opens a private in-memory SQLite database.
func Open(ctx context.Context, url string) (Store, error) {
	kind, target, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	if kind == "postgres" {
		return OpenPostgres(ctx, target)
	}
	return OpenSQLite(ctx, target)
}

// parseURL tells which database a URL names: ("postgres", url) or
// ("sqlite", path).
func parseURL(url string) (kind, target string, err error) {
	lower := strings.ToLower(url)
	switch {
	case url == "":
		return "sqlite", DefaultSQLitePath, nil
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return "postgres", url, nil
	case strings.HasPrefix(lower, "sqlite://"):
		target = url[len("sqlite://"):]
	case strings.HasPrefix(lower, "sqlite:"):
		target = url[len("sqlite:"):]
	case strings.Contains(url, "://"):
		scheme, _, _ := strings.Cut(url, "://")
		return "", "", fmt.Errorf("%w: database URL scheme %q not supported (use postgres://, sqlite:// or a file path)", ErrInvalid, scheme)
	default:
		target = url
	}
	if target == "" {
		return "", "", fmt.Errorf("%w: database URL %q has no path", ErrInvalid, url)
	}
	return "sqlite", target, nil
}

// utc normalises a time the way the store keeps it.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := utc(*t)
	return &u
}
