package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// SQLite settings applied to every connection. WAL lets readers run while
// the single writer writes; synchronous=NORMAL is durable across process
// crashes (a power loss may lose the last transactions, never corrupt);
// busy_timeout waits for another process's lock instead of failing.
const (
	sqliteBusyTimeoutMs = 10000
	sqliteReaders       = 4
)

// sqliteBackend has one writer connection (SQLite allows one writer at a
// time; queueing writers in database/sql is cheaper than SQLITE_BUSY
// retries) and a small pool of read-only connections.
type sqliteBackend struct {
	w, r  *sql.DB
	cp    *checkpointer // nil for an in-memory database
	stmts stmtCache     // on w
}

func (b *sqliteBackend) reader() querier { return sqlQuerier{b.r} }

func (b *sqliteBackend) writer() querier {
	if b.cp == nil {
		return sqlQuerier{b.w}
	}
	return checkpointedQuerier{sqlQuerier{b.w}, b.cp}
}

// checkpointedQuerier counts the writer's single-statement writes as
// commits.
type checkpointedQuerier struct {
	sqlQuerier
	cp *checkpointer
}

func (q checkpointedQuerier) exec(ctx context.Context, s string, args ...any) (int64, error) {
	n, err := q.sqlQuerier.exec(ctx, s, args...)
	if err == nil {
		q.cp.committed(ctx)
	}
	return n, err
}

// checkpointedTx counts its commit.
type checkpointedTx struct {
	sqlTx
	cp *checkpointer
}

func (t checkpointedTx) commit(ctx context.Context) error {
	if err := t.sqlTx.commit(ctx); err != nil {
		return err
	}
	t.cp.committed(ctx)
	return nil
}

func (b *sqliteBackend) begin(ctx context.Context) (tx, error) {
	// The writer's _txlock=immediate makes this BEGIN IMMEDIATE: the write
	// lock is taken up front, so a transaction never fails half-way with
	// SQLITE_BUSY when another process writes.
	t, err := b.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	st := sqlTx{sqlQuerier: sqlQuerier{t}, tx: t, stmts: &b.stmts}
	if b.cp == nil {
		return st, nil
	}
	return checkpointedTx{st, b.cp}, nil
}

func (b *sqliteBackend) ping(ctx context.Context) error {
	var one int
	return b.r.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

func (b *sqliteBackend) close() error {
	b.stmts.close()
	_, _ = b.w.Exec("PRAGMA optimize") // refresh planner statistics; best effort
	var err error
	if b.r != b.w {
		err = b.r.Close()
	}
	return errors.Join(err, b.w.Close())
}

// OpenSQLite opens (creating it and its parent directory if needed) and
// migrates the SQLite database at path. ":memory:" opens a private
// in-memory database (one connection; for tests).
//
// Several processes may open the same file at once. busy_timeout makes most
// lock conflicts wait, but SQLite answers SQLITE_BUSY at once where waiting
// could deadlock (two connections switching a new file to WAL), so setting
// up is retried a few times on SQLITE_BUSY.
func OpenSQLite(ctx context.Context, path string) (Store, error) {
	wait := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		s, err := openSQLite(ctx, path)
		if err == nil || !isBusy(err) || attempt == 10 {
			return s, err
		}
		t := time.NewTimer(wait + time.Duration(rand.Int64N(int64(wait))))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// isBusy reports SQLITE_BUSY or SQLITE_LOCKED (any extended code).
func isBusy(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	code := e.Code() & 0xff
	return code == 5 || code == 6
}

func openSQLite(ctx context.Context, path string) (Store, error) {
	if path == "" {
		path = DefaultSQLitePath
	}
	if strings.Contains(path, "?") {
		return nil, fmt.Errorf("%w: SQLite path %q must not contain '?'", ErrInvalid, path)
	}
	memory := path == ":memory:"
	if !memory {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("store: create database directory: %w", err)
		}
		// Create the file ourselves so that it is private to the owner
		// (SQLite gives its -wal and -shm files the same mode).
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("store: open database file: %w", err)
		}
		_ = f.Close()
	}

	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=synchronous(NORMAL)", sqliteBusyTimeoutMs)
	// Checkpoints are the store's (checkpoint.go); readers never write, so
	// they never checkpoint either.
	w, err := sql.Open("sqlite", path+"?"+common+"&_pragma=journal_mode(WAL)&_txlock=immediate&_pragma=wal_autocheckpoint(0)")
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	b := &sqliteBackend{w: w, r: w}
	fail := func(err error) (Store, error) {
		_ = b.close()
		return nil, err
	}

	// Connect the writer first: it switches the file to WAL, which the
	// readers then find in place.
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fail(fmt.Errorf("store: open sqlite %s: %w", path, err))
	}
	if !memory {
		if !strings.EqualFold(mode, "wal") {
			return fail(fmt.Errorf("store: sqlite %s: journal_mode is %q, want wal", path, mode))
		}
		r, err := sql.Open("sqlite", path+"?"+common+"&_pragma=query_only(1)")
		if err != nil {
			return fail(fmt.Errorf("store: open sqlite: %w", err))
		}
		r.SetMaxOpenConns(sqliteReaders)
		r.SetMaxIdleConns(sqliteReaders)
		b.r = r
		b.cp = newCheckpointer(func(ctx context.Context) error {
			_, err := w.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
			return err
		})
	}
	if err := migrate(ctx, b, sqliteDialect); err != nil {
		return fail(err)
	}
	if err := b.stmts.add(ctx, w, valuesSQL(usageInsertHead, usageColumnCount, insertChunk, false)); err != nil {
		return fail(fmt.Errorf("store: prepare usage insert: %w", err))
	}
	return &sqlStore{b: b, d: sqliteDialect}, nil
}
