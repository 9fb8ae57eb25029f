package bench_test

import (
	"testing"

	"github.com/kineticsec/kinetic/internal/bench"
	"github.com/kineticsec/kinetic/internal/compose"
)

// TestClusterConfigIsSimulated: a cluster's systems are sandbox instances,
// so the configuration it writes for its kinetic serve and worker processes
// says simulated: true, without which they refuse to start.
func TestClusterConfigIsSimulated(t *testing.T) {
	cl, err := bench.NewCluster(bench.ClusterOptions{
		Dir: t.TempDir(), Employees: 3, Policy: bench.FleetPolicy,
		Systems: []bench.System{{Name: "ad"}, {Name: "okta"}, {Name: "m365"}, {Name: "badge"}, {Name: "payroll"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cfg, err := compose.Load(cl.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Service.Simulated || cfg.Service.CheckSimulated() != nil {
		t.Errorf("the cluster's configuration: simulated %t, check %v", cfg.Service.Simulated, cfg.Service.CheckSimulated())
	}
}
