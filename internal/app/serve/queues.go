package serve

import (
	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"

	"github.com/kineticsec/kinetic/bot"
)

// queueDashboard is asynqmon's web UI and its JSON API over the queue's
// Redis, rooted at bot.QueuesPath; bot.NewHandler serves it behind the
// API's authentication (scope queues:operate). The database stays the
// source of truth: a task deleted here is re-enqueued by the recovery
// sweep once its action's lease passes.
func queueDashboard(opt asynq.RedisConnOpt) *asynqmon.HTTPHandler {
	return asynqmon.New(asynqmon.Options{RootPath: bot.QueuesPath, RedisConnOpt: opt})
}
