package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

type pgBackend struct{ pool *pgxpool.Pool }

func (b *pgBackend) reader() querier { return pgQuerier{b.pool} }
func (b *pgBackend) writer() querier { return pgQuerier{b.pool} }

func (b *pgBackend) begin(ctx context.Context) (tx, error) {
	t, err := b.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return pgTx{pgQuerier{t}, t}, nil
}

func (b *pgBackend) ping(ctx context.Context) error { return b.pool.Ping(ctx) }

func (b *pgBackend) close() error {
	b.pool.Close()
	return nil
}

// OpenPostgres connects to PostgreSQL (a postgres:// URL or key=value DSN;
// pgxpool settings such as pool_max_conns and runtime parameters such as
// search_path are accepted) and migrates the schema.
func OpenPostgres(ctx context.Context, url string) (Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, fmt.Errorf("%w: postgres URL: %v", ErrInvalid, err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	params := cfg.ConnConfig.RuntimeParams
	if params["application_name"] == "" {
		params["application_name"] = "genrouter"
	}
	if params["timezone"] == "" && params["TimeZone"] == "" {
		params["timezone"] = "UTC"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	b := &pgBackend{pool: pool}
	if err := migrate(ctx, b, postgresDialect); err != nil {
		pool.Close()
		return nil, err
	}
	return &sqlStore{b: b, d: postgresDialect}, nil
}
