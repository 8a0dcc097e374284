package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSQLite(t *testing.T) {
	runSuite(t, func(t *testing.T) string {
		// t.TempDir is absolute, so this is the sqlite:///abs/path form.
		return "sqlite://" + filepath.Join(t.TempDir(), "genrouter.db")
	})
}

func TestSQLiteFileAndSettings(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "nested", "deeper", "genrouter.db") // parent directories do not exist yet
	s, err := Open(ctx, path)                                      // plain path form
	if err != nil {
		t.Fatal(err)
	}
	b := s.(*sqlStore).b.(*sqliteBackend)

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("database file mode %v, want 0600", fi.Mode().Perm())
	}
	for _, c := range []struct {
		pragma, want string
		reader       bool
	}{
		{"journal_mode", "wal", false},
		{"journal_mode", "wal", true},
		{"synchronous", "1", false}, // NORMAL
		{"synchronous", "1", true},
		{"busy_timeout", "10000", false},
		{"busy_timeout", "10000", true},
		{"query_only", "1", true},
		{"query_only", "0", false},
	} {
		db := b.w
		if c.reader {
			db = b.r
		}
		var got string
		if err := db.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !strings.EqualFold(got, c.want) {
			t.Errorf("PRAGMA %s (reader=%v) = %q, want %q", c.pragma, c.reader, got, c.want)
		}
	}
	if n := b.w.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("writer MaxOpenConnections = %d, want 1", n)
	}

	// The secret is nowhere in the files, not even in the WAL.
	_, secret, err := s.CreateKey(ctx, KeyParams{Name: "file scan"})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	scan := func() {
		t.Helper()
		files, _ := filepath.Glob(path + "*")
		if len(files) == 0 {
			t.Fatal("no database files")
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(data, []byte(secret)) || bytes.Contains(data, []byte(secret[10:])) {
				t.Errorf("%s contains the secret", f)
			}
			if bytes.Contains(data, []byte(HashSecret(secret))) {
				found = true
			}
		}
	}
	scan()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	scan()
	if !found {
		t.Error("the key's hash was not found in the database files: the scan looks in the wrong place")
	}
}

func TestSQLiteMemory(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	k, _, err := s.CreateKey(ctx, KeyParams{Name: "mem"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
}

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		in, kind, target string
		bad              bool
	}{
		{"", "sqlite", DefaultSQLitePath, false},
		{"sqlite:///var/lib/genrouter/g.db", "sqlite", "/var/lib/genrouter/g.db", false},
		{"sqlite://data/g.db", "sqlite", "data/g.db", false},
		{"SQLite:g.db", "sqlite", "g.db", false},
		{"./data/g.db", "sqlite", "./data/g.db", false},
		{"/abs/g.db", "sqlite", "/abs/g.db", false},
		{"postgres://u:p@h:5432/db?sslmode=disable", "postgres", "postgres://u:p@h:5432/db?sslmode=disable", false},
		{"postgresql://h/db", "postgres", "postgresql://h/db", false},
		{"mysql://h/db", "", "", true},
		{"sqlite://", "", "", true},
	} {
		kind, target, err := parseURL(c.in)
		if c.bad {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("parseURL(%q) error = %v, want ErrInvalid", c.in, err)
			}
			continue
		}
		if err != nil || kind != c.kind || target != c.target {
			t.Errorf("parseURL(%q) = %q, %q, %v; want %q, %q", c.in, kind, target, err, c.kind, c.target)
		}
	}
	if _, err := Open(context.Background(), "mysql://x/y"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Open(mysql://) error = %v, want ErrInvalid", err)
	}
}

func TestRebind(t *testing.T) {
	for _, c := range []struct {
		in, want string
		args     []any
		wantArgs []any
	}{
		{"SELECT 1", "SELECT 1", nil, nil},
		{"a = $1 AND b = $2", "a = ? AND b = ?", []any{"x", 2}, []any{"x", 2}},
		{"a = $2 OR b = $1 OR c = $2", "a = ? OR b = ? OR c = ?", []any{"x", "y"}, []any{"y", "x", "y"}},
		{"v = ($10, $1)", "v = (?, ?)", []any{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, []any{10, 1}},
	} {
		got, args := rebind(c.in, c.args)
		if got != c.want || fmt.Sprint(args) != fmt.Sprint(c.wantArgs) {
			t.Errorf("rebind(%q, %v) = %q, %v; want %q, %v", c.in, c.args, got, args, c.want, c.wantArgs)
		}
	}
}

// BenchmarkInsertUsageSQLite is the usage writer's cost per row: batches of
// 256 with a deadline, as the Writer sends them.
func BenchmarkInsertUsageSQLite(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	batch := make([]Usage, 256)
	for i := range batch {
		batch[i] = Usage{RequestID: fmt.Sprintf("req-%d", i), Vendor: "openai", Credential: "key-1",
			ModelAsked: "gpt-4o", ModelServed: "gpt-4o-2024-08-06", Status: 200, LatencyMs: 12.5,
			TTFBMs: 3.25, PromptTokens: 9, CompletionTokens: 12, Cost: 0.0001, Attempts: 1}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += len(batch) {
		if err := s.InsertUsage(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// sqliteTime writes what time.Format writes with the layout, for times
// across the years it formats itself and at the edges it hands back.
func TestSQLiteTimeMatchesFormat(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	times := []time.Time{
		{}, time.Unix(0, 0), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 25, 23, 5, 7, 123456789, time.FixedZone("x", -7*3600)),
	}
	for range 10000 {
		times = append(times, time.Unix(rng.Int64N(400e9)-50e9, rng.Int64N(1e9)))
	}
	for _, tm := range times {
		if got, want := sqliteTime(tm), tm.UTC().Format(sqliteTimeLayout); got != want {
			t.Fatalf("sqliteTime(%v) = %q, want %q", tm, got, want)
		}
	}
}
