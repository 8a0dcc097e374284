package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The SQL code is shared by both databases; these small interfaces hide the
// difference between database/sql (SQLite) and pgx (PostgreSQL). Queries are
// written with $1-style placeholders, which both understand.

type querier interface {
	exec(ctx context.Context, q string, args ...any) (int64, error)
	query(ctx context.Context, q string, args ...any) (rows, error)
	queryRow(ctx context.Context, q string, args ...any) row
}

type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

type row interface {
	Scan(dest ...any) error
}

type tx interface {
	querier
	// insertRows inserts rows of width values each with head, an
	// "INSERT INTO t (cols) VALUES " prefix. It is much cheaper than one
	// statement per row or one huge statement: SQLite runs prepared
	// statements of insertChunk rows, PostgreSQL gets one pipelined batch.
	insertRows(ctx context.Context, head string, width int, rows [][]any) error
	commit(ctx context.Context) error
	rollback(ctx context.Context) error
}

// backend is one open database.
type backend interface {
	reader() querier // for queries
	writer() querier // for single-statement writes
	begin(ctx context.Context) (tx, error)
	ping(ctx context.Context) error
	close() error
}

func isNoRows(err error) bool {
	return errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows)
}

// ---- database/sql ----

type sqlRunner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type sqlQuerier struct{ r sqlRunner }

// rebind turns $N placeholders into SQLite's anonymous ?, repeating and
// reordering args to match. SQLite understands $N, but binding a named (or
// numbered) parameter costs a walk of the statement's parameter list, so a
// batch INSERT with thousands of them would be quadratic; anonymous ones are
// bound by position. The SQL of this package has no '$' in literals.
func rebind(q string, args []any) (string, []any) {
	if !strings.Contains(q, "$") {
		return q, args
	}
	var b strings.Builder
	b.Grow(len(q))
	out := make([]any, 0, len(args))
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c != '$' {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		n := 0
		for j < len(q) && q[j] >= '0' && q[j] <= '9' {
			n = n*10 + int(q[j]-'0')
			j++
		}
		if j == i+1 || n < 1 || n > len(args) {
			b.WriteByte(c) // not a placeholder we know: let SQLite complain
			continue
		}
		b.WriteByte('?')
		out = append(out, args[n-1])
		i = j - 1
	}
	return b.String(), out
}

func (q sqlQuerier) exec(ctx context.Context, s string, args ...any) (int64, error) {
	s, args = rebind(s, args)
	res, err := q.r.ExecContext(ctx, s, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q sqlQuerier) query(ctx context.Context, s string, args ...any) (rows, error) {
	s, args = rebind(s, args)
	r, err := q.r.QueryContext(ctx, s, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

func (q sqlQuerier) queryRow(ctx context.Context, s string, args ...any) row {
	s, args = rebind(s, args)
	return q.r.QueryRowContext(ctx, s, args...)
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

type sqlTx struct {
	sqlQuerier
	tx    *sql.Tx
	stmts *stmtCache // nil: every statement is prepared in the transaction
}

// stmtCache holds statements prepared on the writer when the store opens:
// the usage INSERT of insertChunk rows, whose parsing was 8% of a usage
// row's cost when every batch prepared it again. Statements are added only
// outside transactions — the writer has one connection, which a
// transaction holds — and read inside them.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func (c *stmtCache) add(ctx context.Context, db *sql.DB, q string) error {
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[q] = st
	return nil
}

func (c *stmtCache) lookup(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[q]
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		_ = st.Close()
	}
	c.m = nil
}

// prepare is the transaction's statement for q: the cached one, bound to
// the transaction's connection (where it is already prepared), or a fresh
// one. Either way the caller closes what it gets; that leaves the cached
// statement prepared.
func (t sqlTx) prepare(ctx context.Context, q string) (*sql.Stmt, error) {
	if t.stmts != nil {
		if st := t.stmts.lookup(q); st != nil {
			return t.tx.StmtContext(ctx, st), nil
		}
	}
	return t.tx.PrepareContext(ctx, q)
}

// insertChunk is how many rows one prepared SQLite INSERT carries: enough
// to spread the per-statement cost, few enough that parsing it is cheap.
const insertChunk = 32

func (t sqlTx) insertRows(ctx context.Context, head string, width int, rows [][]any) error {
	// Rows are run without ctx's cancellation, and ctx is checked between
	// statements instead: with a cancellable context the driver starts a
	// watcher goroutine per statement.
	bg := context.WithoutCancel(ctx)
	var (
		st   *sql.Stmt
		size int
		args = make([]any, 0, insertChunk*width)
	)
	defer func() {
		if st != nil {
			st.Close()
		}
	}()
	for len(rows) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(len(rows), insertChunk)
		if n != size {
			if st != nil {
				st.Close()
			}
			var err error
			if st, err = t.prepare(ctx, valuesSQL(head, width, n, false)); err != nil {
				st = nil
				return err
			}
			size = n
		}
		args = args[:0]
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		if _, err := st.ExecContext(bg, args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// valuesSQL is head followed by n groups of width placeholders: numbered
// ($1, $2, … for PostgreSQL) or anonymous (? for SQLite, bound by position).
func valuesSQL(head string, width, n int, numbered bool) string {
	var b strings.Builder
	b.Grow(len(head) + n*(width*5+4))
	b.WriteString(head)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range width {
			if c > 0 {
				b.WriteString(", ")
			}
			if numbered {
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(i*width + c + 1))
			} else {
				b.WriteByte('?')
			}
		}
		b.WriteByte(')')
	}
	return b.String()
}

func (t sqlTx) commit(context.Context) error   { return t.tx.Commit() }
func (t sqlTx) rollback(context.Context) error { return t.tx.Rollback() }

// ---- pgx ----

// pgRunner is what a pool and a transaction both offer.
type pgRunner interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

type pgQuerier struct{ r pgRunner }

func (q pgQuerier) exec(ctx context.Context, s string, args ...any) (int64, error) {
	tag, err := q.r.Exec(ctx, s, args...)
	return tag.RowsAffected(), err
}

func (q pgQuerier) query(ctx context.Context, s string, args ...any) (rows, error) {
	r, err := q.r.Query(ctx, s, args...)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (q pgQuerier) queryRow(ctx context.Context, s string, args ...any) row {
	return q.r.QueryRow(ctx, s, args...)
}

type pgTx struct {
	pgQuerier
	tx pgx.Tx
}

func (t pgTx) insertRows(ctx context.Context, head string, width int, rows [][]any) error {
	q := valuesSQL(head, width, 1, true)
	var b pgx.Batch
	for _, r := range rows {
		b.Queue(q, r...)
	}
	return t.tx.SendBatch(ctx, &b).Close()
}

func (t pgTx) commit(ctx context.Context) error { return t.tx.Commit(ctx) }

func (t pgTx) rollback(ctx context.Context) error {
	// Rollback must run even when ctx has ended, or the connection is lost.
	return t.tx.Rollback(context.WithoutCancel(ctx))
}
