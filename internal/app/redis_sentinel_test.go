package app

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/secret"
	"github.com/kineticsec/kinetic/internal/testenv"
	"github.com/kineticsec/kinetic/jobs"
)

// redisBinaries finds redis-server and a way to run a sentinel: the
// redis-sentinel command (Debian package redis-sentinel) or redis-server
// --sentinel (the same binary in sentinel mode). Under CI a missing binary
// fails the test; elsewhere it skips with the reason.
func redisBinaries(t *testing.T) (server string, sentinel []string) {
	t.Helper()
	server, err := exec.LookPath("redis-server")
	if err != nil {
		if testenv.CI() {
			t.Fatalf("redis-server is not installed (Debian package redis-server): %v", err)
		}
		t.Skipf("redis-server is not installed (apt-get install redis-server redis-sentinel): %v", err)
	}
	if s, err := exec.LookPath("redis-sentinel"); err == nil {
		return server, []string{s}
	}
	return server, []string{server, "--sentinel"}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startRedis runs a redis process (argv[0] and a config file written from
// conf) and waits until it answers PING with password.
func startRedis(t *testing.T, name string, argv []string, port int, conf, password string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, name+".conf")
	conf = fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsave \"\"\nappendonly no\nrepl-diskless-sync-delay 0\n", port, dir) + conf
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{path}, argv[1:]...)
	cmd := exec.Command(argv[0], args...)
	out, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		out.Close()
		if t.Failed() {
			b, _ := os.ReadFile(out.Name())
			t.Logf("%s log:\n%s", name, b)
		}
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c := redis.NewClient(&redis.Options{Addr: addr, Password: password})
	defer c.Close()
	eventually(t, 15*time.Second, name+" answers PING", func() bool {
		return c.Ping(context.Background()).Err() == nil
	})
	return addr
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", d, what)
		}
		<-tick.C
	}
}

// TestSentinelQueueAndGate starts a master, a replica and a sentinel (real
// redis-server processes on free ports), configures Kinetic's redis block
// with the sentinel only, and runs a task through asynq whose handler takes
// the rate-limit gate; it checks the gate's state landed on the master,
// makes the sentinel fail over to the replica, and runs a second task
// through the same clients, whose gate state lands on the new master.
func TestSentinelQueueAndGate(t *testing.T) {
	server, sentinelArgv := redisBinaries(t)
	const dataPW, sentinelPW, master = "data-SECRET-pw", "sentinel-SECRET-pw", "kinetic"
	auth := fmt.Sprintf("requirepass %s\nmasterauth %s\n", dataPW, dataPW)
	pMaster, pReplica, pSentinel := freePort(t), freePort(t), freePort(t)
	masterAddr := startRedis(t, "master", []string{server}, pMaster, auth, dataPW)
	replicaAddr := startRedis(t, "replica", []string{server}, pReplica, auth+fmt.Sprintf("replicaof 127.0.0.1 %d\n", pMaster), dataPW)
	rc := redis.NewClient(&redis.Options{Addr: replicaAddr, Password: dataPW})
	defer rc.Close()
	eventually(t, 20*time.Second, "the replica is in sync", func() bool {
		info, err := rc.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	sentinelAddr := startRedis(t, "sentinel", sentinelArgv, pSentinel, fmt.Sprintf(
		"sentinel monitor %s 127.0.0.1 %d 1\nsentinel auth-pass %s %s\nsentinel down-after-milliseconds %s 2000\nsentinel failover-timeout %s 10000\nrequirepass %s\n",
		master, pMaster, master, dataPW, master, master, sentinelPW), sentinelPW)

	// The service file's block, loaded and validated as an operator writes it.
	cfgRedis := configs.Redis{
		Sentinel: &configs.RedisSentinel{MasterName: master, Addrs: []string{sentinelAddr}, Password: secret.FromValue(sentinelPW)},
		Password: secret.FromValue(dataPW),
	}
	opt := redisConnOpt(cfgRedis, "")
	if _, ok := opt.(asynq.RedisFailoverClientOpt); !ok {
		t.Fatalf("sentinel block made %T, want asynq.RedisFailoverClientOpt", opt)
	}
	rdb, err := universalClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()

	gate := jobs.NewGate(rdb, nil)
	okta := &connectors.Instance{Name: "okta", RateLimit: connectors.RateLimit{Requests: 100, Per: time.Minute}, Concurrency: 2, Timeout: 5 * time.Second}
	done := make(chan string, 4)
	mux := asynq.NewServeMux()
	mux.HandleFunc("kinetic:test", func(ctx context.Context, task *asynq.Task) error {
		release, wait, err := gate.Acquire(ctx, okta)
		if err != nil {
			t.Logf("handler: %v", err)
			return err // retried by asynq (e.g. READONLY during the failover)
		}
		if wait > 0 {
			return fmt.Errorf("gate asked to wait %v", wait)
		}
		release()
		done <- string(task.Payload())
		return nil
	})
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 2, LogLevel: asynq.FatalLevel,
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return 200 * time.Millisecond }})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	client := asynq.NewClient(opt)
	defer client.Close()

	run := func(id string) {
		t.Helper()
		eventually(t, 30*time.Second, "task "+id+" is enqueued", func() bool {
			_, err := client.Enqueue(asynq.NewTask("kinetic:test", []byte(id)), asynq.TaskID(id), asynq.MaxRetry(50))
			return err == nil || err == asynq.ErrTaskIDConflict
		})
		select {
		case got := <-done:
			if got != id {
				t.Fatalf("handled %q, want %q", got, id)
			}
		case <-time.After(60 * time.Second):
			in := asynq.NewInspector(opt)
			qi, err := in.GetQueueInfo("default")
			t.Logf("queue: %+v %v", qi, err)
			ti, err := in.GetTaskInfo("default", id)
			t.Logf("task: %+v %v", ti, err)
			t.Fatalf("task %s was not handled within 60s", id)
		}
	}
	hasRateKey := func(addr string) bool {
		c := redis.NewClient(&redis.Options{Addr: addr, Password: dataPW})
		defer c.Close()
		n, err := c.Exists(context.Background(), "rate:kinetic:rate:okta").Result()
		return err == nil && n == 1
	}

	run("before-failover")
	if !hasRateKey(masterAddr) {
		t.Fatal("the gate's rate-limit key is not on the master: the gate did not go through the sentinel's master")
	}

	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinelAddr, Password: sentinelPW})
	defer sc.Close()
	eventually(t, 30*time.Second, "the sentinel knows the replica", func() bool {
		r, err := sc.Replicas(context.Background(), master).Result()
		return err == nil && len(r) == 1
	})
	eventually(t, 30*time.Second, "the sentinel accepts a failover", func() bool {
		return sc.Failover(context.Background(), master).Err() == nil
	})
	eventually(t, 60*time.Second, "the replica is the master", func() bool {
		a, err := sc.GetMasterAddrByName(context.Background(), master).Result()
		return err == nil && len(a) == 2 && a[1] == strconv.Itoa(pReplica)
	})
	eventually(t, 30*time.Second, "the old replica accepts writes", func() bool {
		info, err := rc.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "role:master")
	})
	// Redis replication is asynchronous: a write the old master takes
	// between the promotion and its own demotion is lost when it resyncs
	// from the new master. Wait until it is a replica in sync, so the
	// test's write is not one of those (Kinetic's sweep re-dispatches
	// anything such a window loses; DESIGN.md "the queue only carries work").
	mc := redis.NewClient(&redis.Options{Addr: masterAddr, Password: dataPW})
	defer mc.Close()
	eventually(t, 60*time.Second, "the old master is a replica in sync", func() bool {
		info, err := mc.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "role:slave") && strings.Contains(info, "master_link_status:up")
	})
	// The limiter's key (redis_rate prefixes "rate:") expires on its own; delete it on the new master
	// so its reappearance proves the gate followed the failover.
	if err := rc.Del(context.Background(), "rate:kinetic:rate:okta").Err(); err != nil {
		t.Fatal(err)
	}
	run("after-failover")
	if !hasRateKey(replicaAddr) {
		t.Fatal("after the failover the gate's key is not on the new master")
	}
}

// TestRedisConnOpt maps each redis block to asynq's option.
func TestRedisConnOpt(t *testing.T) {
	pw := secret.FromValue("pw")
	if o, ok := redisConnOpt(configs.Redis{Addr: "r:6379", Password: pw, DB: 2}, "r:6379").(asynq.RedisClientOpt); !ok || o.Addr != "r:6379" || o.DB != 2 || o.Password != "pw" {
		t.Errorf("single: %#v", o)
	}
	if o, ok := redisConnOpt(configs.Redis{Embedded: true}, "127.0.0.1:1").(asynq.RedisClientOpt); !ok || o.Addr != "127.0.0.1:1" {
		t.Errorf("embedded: %#v", o)
	}
	s := redisConnOpt(configs.Redis{Sentinel: &configs.RedisSentinel{MasterName: "m", Addrs: []string{"s:26379"}, Username: "u", Password: secret.FromValue("sp")}, Password: pw, DB: 1}, "")
	if o, ok := s.(asynq.RedisFailoverClientOpt); !ok || o.MasterName != "m" || o.SentinelAddrs[0] != "s:26379" || o.SentinelUsername != "u" || o.SentinelPassword != "sp" || o.Password != "pw" || o.DB != 1 {
		t.Errorf("sentinel: %#v", s)
	}
	c := redisConnOpt(configs.Redis{Cluster: &configs.RedisCluster{Addrs: []string{"c1:6379", "c2:6379"}}, Password: pw}, "")
	if o, ok := c.(asynq.RedisClusterClientOpt); !ok || len(o.Addrs) != 2 || o.Password != "pw" {
		t.Errorf("cluster: %#v", c)
	}
	if cl, err := universalClient(c); err != nil {
		t.Fatal(err)
	} else if _, ok := cl.(*redis.ClusterClient); !ok {
		t.Errorf("cluster client is %T", cl)
	} else {
		cl.Close()
	}
}
