package app

import (
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/kineticsec/kinetic/configs"
)

// redisConnOpt turns the service file's redis block into asynq's connection
// option: a single Redis at addr (the configured one, or the embedded
// miniredis), a Sentinel-managed master (asynq.RedisFailoverClientOpt) or a
// Redis Cluster (asynq.RedisClusterClientOpt).
func redisConnOpt(r configs.Redis, addr string) asynq.RedisConnOpt {
	switch {
	case r.Sentinel != nil && !r.Embedded:
		return asynq.RedisFailoverClientOpt{
			MasterName:       r.Sentinel.MasterName,
			SentinelAddrs:    r.Sentinel.Addrs,
			SentinelUsername: r.Sentinel.Username,
			SentinelPassword: r.Sentinel.Password.Value(),
			Password:         r.Password.Value(),
			DB:               r.DB,
		}
	case r.Cluster != nil && !r.Embedded:
		return asynq.RedisClusterClientOpt{Addrs: r.Cluster.Addrs, Password: r.Password.Value()}
	default:
		return asynq.RedisClientOpt{Addr: addr, Password: r.Password.Value(), DB: r.DB}
	}
}

// universalClient builds the go-redis client the rate-limit gate, the
// replay stores and the readiness probe use, from the same option as the
// queue, so both follow a Sentinel failover and both route by cluster slot.
func universalClient(opt asynq.RedisConnOpt) (redis.UniversalClient, error) {
	c, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("asynq made a %T, not a go-redis v9 client", opt.MakeRedisClient())
	}
	return c, nil
}
