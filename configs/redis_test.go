package configs

import "testing"

// TestRedisModes loads each way of naming the Redis; the sentinel's
// password is a secret like any other, and KINETIC_REDIS_ADDR replaces a
// sentinel or cluster block with a single address.
func TestRedisModes(t *testing.T) {
	clearEnv(t)
	t.Setenv("KINETIC_TEST_SENTINEL_PW", "sentinel-SECRET")
	const tail = "policy: p.yaml\nconnectors:\n  ad: {type: sandbox, sandbox: {system: ad}}\n"
	for yaml, want := range map[string]string{
		"redis: {embedded: true}\n": "embedded",
		"redis: {addr: 'r:6379'}\n": "single",
		"redis:\n  sentinel:\n    master_name: kinetic\n    addrs: ['s0:26379', 's1:26379']\n    password: {env: KINETIC_TEST_SENTINEL_PW}\n": "sentinel",
		"redis:\n  cluster: {addrs: ['c0:6379']}\n": "cluster",
	} {
		svc, err := parseServiceT("s.yaml", []byte(yaml+tail))
		if err != nil {
			t.Errorf("%s: %v", want, err)
			continue
		}
		if got := svc.Redis.Mode(); got != want {
			t.Errorf("mode %q, want %q", got, want)
		}
		if want == "sentinel" && (svc.Redis.Sentinel.MasterName != "kinetic" || len(svc.Redis.Sentinel.Addrs) != 2 || svc.Redis.Sentinel.Password.Value() != "sentinel-SECRET") {
			t.Errorf("sentinel block %+v", svc.Redis.Sentinel)
		}
	}
	// The environment override (applyEnv, run by Load) replaces the block.
	r := Service{Redis: Redis{Cluster: &RedisCluster{Addrs: []string{"c0:6379"}}}}
	r.applyEnv(func(k string) (string, bool) {
		return map[string]string{EnvRedisAddr: "env-redis:6379"}[k], k == EnvRedisAddr
	})
	if r.Redis.Mode() != "single" || r.Redis.Addr != "env-redis:6379" {
		t.Errorf("%s did not replace the cluster block: %+v", EnvRedisAddr, r.Redis)
	}
}
