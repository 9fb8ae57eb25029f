package configs

import (
	"fmt"
	"net"

	"github.com/kineticsec/kinetic/internal/secret"
)

// RedisSentinel is a Redis replicated under Redis Sentinel
// (https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/).
// Kinetic asks the sentinels for the current master of MasterName and
// reconnects to the new master after a failover; the queue (asynq's
// RedisFailoverClientOpt) and the rate-limit gate (go-redis's failover
// client) use the same settings.
type RedisSentinel struct {
	// MasterName is the name the sentinels monitor (sentinel monitor NAME …).
	MasterName string `yaml:"master_name"`
	// Addrs are the sentinels, HOST:PORT each (usually port 26379); at
	// least one, three or more for a quorum that survives a lost node.
	Addrs []string `yaml:"addrs"`
	// Username and Password authenticate to the sentinels themselves
	// (requirepass / ACL in sentinel.conf), when they require it. The data
	// nodes use redis.password.
	Username string        `yaml:"username"`
	Password secret.Secret `yaml:"password"`
}

// RedisCluster is a Redis Cluster
// (https://redis.io/docs/latest/operate/oss_and_stack/management/scaling/).
// Addrs are seed nodes: the client discovers the rest from CLUSTER SLOTS.
// A cluster has only database 0, so redis.db must stay 0.
type RedisCluster struct {
	// Addrs are seed nodes, HOST:PORT each; at least one.
	Addrs []string `yaml:"addrs"`
}

// Mode names how the Redis is reached: "embedded", "single", "sentinel"
// or "cluster".
func (r Redis) Mode() string {
	switch {
	case r.Embedded:
		return "embedded"
	case r.Sentinel != nil:
		return "sentinel"
	case r.Cluster != nil:
		return "cluster"
	default:
		return "single"
	}
}

func (r *Redis) validate(d *doc) {
	var set []string
	if r.Embedded {
		set = append(set, "embedded")
	}
	if r.Addr != "" {
		set = append(set, "addr")
	}
	if r.Sentinel != nil {
		set = append(set, "sentinel")
	}
	if r.Cluster != nil {
		set = append(set, "cluster")
	}
	switch {
	case len(set) > 1:
		d.add("redis", "set one of embedded: true, addr, sentinel or cluster, not %d (%v)", len(set), set)
		return
	case len(set) == 0:
		d.add("redis", "set embedded: true (in-process Redis, one process only), addr (HOST:PORT, or %s), sentinel or cluster", EnvRedisAddr)
		return
	}
	if r.Addr != "" {
		if _, _, err := net.SplitHostPort(r.Addr); err != nil {
			d.add("redis.addr", "want HOST:PORT: %v", err)
		}
	}
	if s := r.Sentinel; s != nil {
		if s.MasterName == "" {
			d.add("redis.sentinel.master_name", "required: the master name the sentinels monitor")
		}
		checkAddrs(d, "redis.sentinel.addrs", s.Addrs)
	}
	if c := r.Cluster; c != nil {
		checkAddrs(d, "redis.cluster.addrs", c.Addrs)
		if r.DB != 0 {
			d.add("redis.db", "a Redis Cluster has only database 0")
		}
	}
	if r.DB < 0 {
		d.add("redis.db", "must not be negative")
	}
}

func checkAddrs(d *doc, key string, addrs []string) {
	if len(addrs) == 0 {
		d.add(key, "at least one HOST:PORT")
	}
	seen := map[string]bool{}
	for i, a := range addrs {
		k := fmt.Sprintf("%s[%d]", key, i)
		if _, _, err := net.SplitHostPort(a); err != nil {
			d.add(k, "want HOST:PORT: %v", err)
		} else if seen[a] {
			d.add(k, "%s is listed twice", a)
		}
		seen[a] = true
	}
}
