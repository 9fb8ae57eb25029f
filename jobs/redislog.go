package jobs

import (
	"context"
	"fmt"

	"github.com/sirupsen/logrus"
)

// RedisLogger routes go-redis's own messages (pool and reconnect
// warnings, which go-redis writes with the standard log package by
// default) through logrus, so no plain line enters a JSON log stream.
// Install it once per process with redis.SetLogger; it logs at warning
// level with component=redis.
type RedisLogger struct{ Log *logrus.Entry }

// Printf implements go-redis's internal.Logging.
func (l RedisLogger) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	l.Log.WithContext(ctx).WithField("component", "redis").Warn(fmt.Sprintf(format, v...))
}
