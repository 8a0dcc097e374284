package store

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func TestCheckpointPolicy(t *testing.T) {
	runs, procs := 0, 0
	c := newCheckpointer(func(context.Context) error {
		runs++
		procs = runtime.GOMAXPROCS(0)
		return nil
	})
	before := runtime.GOMAXPROCS(0)
	c.last = time.Now().Add(-2 * time.Second)
	ctx := context.Background()
	for range 99 {
		c.committed(ctx)
	}
	if runs != 0 {
		t.Fatalf("checkpointed after 99 commits")
	}
	c.committed(ctx)
	if runs != 1 {
		t.Fatalf("%d checkpoints after 100 commits, want 1", runs)
	}
	if procs != before+1 || runtime.GOMAXPROCS(0) != before {
		t.Errorf("GOMAXPROCS %d during the checkpoint and %d after, want %d and %d", procs, runtime.GOMAXPROCS(0), before+1, before)
	}
	for range 200 { // within a second of the last one: none
		c.committed(ctx)
	}
	if runs != 1 {
		t.Fatalf("%d checkpoints within the minimum gap", runs)
	}
	c.commits, c.last = 0, time.Now().Add(-31*time.Second)
	c.committed(ctx) // one commit, but long after the last checkpoint
	if runs != 2 {
		t.Fatalf("no checkpoint 31 s after the last one")
	}
}

// The write-ahead log stays bounded while usage rows pour in: the store
// checkpoints it (SQLite's own automatic checkpoint is off).
func TestSQLiteCheckpointsBoundTheLog(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "usage.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cp := s.(*sqlStore).b.(*sqliteBackend).cp
	cp.mu.Lock()
	cp.every, cp.minGap = 20, 0
	cp.mu.Unlock()
	batch := make([]Usage, 64)
	for i := range batch {
		batch[i] = Usage{RequestID: "req-0123456789abcdef", Vendor: "openai", Credential: "key-1",
			ModelAsked: "gpt-4o", ModelServed: "gpt-4o-2024-08-06", Status: 200, LatencyMs: 12.5}
	}
	for range 400 { // 25,600 rows, ~5 MB through the log
		if err := s.InsertUsage(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 2<<20 {
		t.Errorf("the log grew to %d KiB: checkpoints did not run", fi.Size()>>10)
	}
	var n int
	if err := s.(*sqlStore).b.reader().queryRow(ctx, "SELECT count(*) FROM usage_log").Scan(&n); err != nil || n != 400*64 {
		t.Fatalf("%d rows (%v), want %d", n, err, 400*64)
	}
}
