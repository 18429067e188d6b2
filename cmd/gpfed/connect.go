package main

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/queue"
)

// conns are the Postgres and Redis handles the long-running commands share.
type conns struct {
	DB        *store.DB
	Redis     asynq.RedisConnOpt
	Client    *asynq.Client
	Inspector *asynq.Inspector
}

// connect opens Postgres (migrating it) and the asynq client and inspector.
func connect(ctx context.Context, app *App) (*conns, error) {
	db, err := openDB(ctx, app)
	if err != nil {
		return nil, err
	}
	redis, err := queue.RedisOpt(app.Cfg.Redis.URL)
	if err != nil {
		db.Close()
		return nil, usagef("%v", err)
	}
	if err := pingRedis(ctx, app.Cfg.Redis.URL); err != nil {
		db.Close()
		return nil, err
	}
	return &conns{DB: db, Redis: redis, Client: asynq.NewClient(redis), Inspector: asynq.NewInspector(redis)}, nil
}

// redisPingTimeout bounds the start-up check: a wrong REDIS_URL should stop
// the command at once, not leave it running and retrying in the background.
const redisPingTimeout = 5 * time.Second

// pingRedis fails when Redis does not answer, naming REDIS_URL (and the
// address, never the password) so the operator knows what to fix. One
// attempt, no retries: the daemons' own clients retry for ever.
func pingRedis(ctx context.Context, rawURL string) error {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return usagef("REDIS_URL: %v", err)
	}
	opt.MaxRetries, opt.DialerRetries, opt.DialTimeout = -1, 1, redisPingTimeout
	c := redis.NewClient(opt)
	defer c.Close()
	pctx, cancel := context.WithTimeout(ctx, redisPingTimeout)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		return fmt.Errorf("redis at %s (database %d) is unreachable: %w (check REDIS_URL)", opt.Addr, opt.DB, err)
	}
	return nil
}

// Close releases everything connect opened.
func (c *conns) Close() {
	_ = c.Inspector.Close()
	_ = c.Client.Close()
	c.DB.Close()
}
