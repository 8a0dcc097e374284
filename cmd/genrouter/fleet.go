package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/limit"
	"github.com/genrouter/genrouter/internal/server"
	"github.com/genrouter/genrouter/internal/store"
	"github.com/redis/go-redis/v9"
)

// keysChannel carries the hashes of changed virtual keys between replicas.
const keysChannel = "genrouter:keys"

// fleet is what the gateway shares with its replicas and remembers: the
// database (keys, usage), the usage writer, the limiter and Redis.
type fleet struct {
	store     store.Store
	usage     *store.Writer
	retention *store.Retention
	limiter   limit.Limiter
	cooldowns limit.Cooldowns
	redis     *redis.Client
	cancel    context.CancelFunc
}

// openFleet opens what the config asks for. An explicit database that
// cannot be opened is an error; the default SQLite file that cannot be
// created (a read-only directory) only turns storage off, with a warning.
func openFleet(ctx context.Context, cfg *config.Config, log *slog.Logger) (*fleet, error) {
	f := &fleet{}
	fc := cfg.Fleet
	if fc.DatabaseURL != config.DatabaseNone {
		st, err := store.Open(ctx, fc.DatabaseURL)
		switch {
		case err != nil && fc.DatabaseURL != "":
			return nil, fmt.Errorf("database: %w", err)
		case err != nil:
			log.Warn("no usage log and no virtual keys: the default database could not be opened", "path", store.DefaultSQLitePath, "error", err)
		default:
			f.store = st
			f.usage = store.NewWriter(st, store.WriterOptions{QueueSize: fc.UsageQueue,
				OnError: func(err error, rows int, final bool) {
					if final {
						log.Warn("usage rows lost: the database did not take them", "rows", rows, "error", err)
					}
				}})
			if fc.UsageRetention > 0 {
				f.retention = store.StartRetention(context.Background(), st, fc.UsageRetention, time.Hour)
			}
		}
	}
	if fc.RedisURL != "" {
		client, err := limit.NewRedisClient(fc.RedisURL)
		if err != nil {
			f.close()
			return nil, fmt.Errorf("redis_url: %w", err)
		}
		r, err := limit.NewRedis(client, limit.RedisOptions{FailMode: fc.FailMode})
		if err != nil {
			client.Close()
			f.close()
			return nil, fmt.Errorf("redis: %w", err)
		}
		f.redis, f.limiter, f.cooldowns = client, r, r.Cooldowns()
	}
	return f, nil
}

// options fills the server options from the fleet.
func (f *fleet) options(o server.Options) server.Options {
	o.Store, o.Usage, o.Limiter, o.Cooldowns = f.store, f.usage, f.limiter, f.cooldowns
	if f.redis != nil {
		o.OnKeyChange = func(hash string) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			f.redis.Publish(ctx, keysChannel, hash)
		}
	}
	return o
}

// listen drops keys other replicas changed from srv's cache.
func (f *fleet) listen(srv *server.Server) {
	if f.redis == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	sub := f.redis.Subscribe(ctx, keysChannel)
	go func() {
		defer sub.Close()
		ch := sub.Channel()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-ch:
				if !ok {
					return
				}
				srv.DropKey(m.Payload)
			}
		}
	}()
}

// close flushes the usage log and lets go of everything.
func (f *fleet) close() {
	if f.cancel != nil {
		f.cancel()
	}
	if f.retention != nil {
		f.retention.Stop()
	}
	if f.usage != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		f.usage.Close(ctx)
		cancel()
	}
	if f.limiter != nil {
		f.limiter.Close()
	}
	if f.redis != nil {
		f.redis.Close()
	}
	if f.store != nil {
		f.store.Close()
	}
}

func (f *fleet) hasKeys() bool {
	if f.store == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	keys, err := f.store.ListKeys(ctx)
	now := time.Now()
	for _, k := range keys {
		if k.Usable(now) {
			return true
		}
	}
	return err != nil
}
