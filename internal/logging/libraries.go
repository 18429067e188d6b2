package logging

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"
)

// CaptureLibraries sends what libraries print on their own through l, so
// every line a gpfed process writes is a log record in its format (JSON in
// production): go-redis's dial errors ("redis: connection pool: failed to
// dial ...") and anything written with the standard log package (asynq's
// metrics collector uses it). Library lines carry component "redis" or
// "library".
func CaptureLibraries(l *slog.Logger) {
	redis.SetLogger(redisLogger{l.With("component", "redis")})
	slog.SetDefault(l.With("component", "library"))
}

type redisLogger struct{ l *slog.Logger }

// Printf logs go-redis's messages as warnings: they report failures the
// caller also sees as errors.
func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "))
}
