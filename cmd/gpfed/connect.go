package main

import (
	"context"

	"github.com/hibiken/asynq"

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
	return &conns{DB: db, Redis: redis, Client: asynq.NewClient(redis), Inspector: asynq.NewInspector(redis)}, nil
}

// Close releases everything connect opened.
func (c *conns) Close() {
	_ = c.Inspector.Close()
	_ = c.Client.Close()
	c.DB.Close()
}
