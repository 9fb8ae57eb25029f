package check

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

const (
	repo       = "../.."
	nonrootUID = 65532
)

// objects holds rendered Kubernetes objects, decoded strictly into the
// k8s.io/api types: an unknown or misspelt field, or a value of the wrong
// type, fails the decode.
type objects struct {
	deployments map[string]*appsv1.Deployment
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	services    map[string]*corev1.Service
	jobs        map[string]*batchv1.Job
	pdbs        map[string]*policyv1.PodDisruptionBudget
	netpols     map[string]*networkingv1.NetworkPolicy
	other       []string
}

func decode(t *testing.T, where string, docs []string) *objects {
	t.Helper()
	o := &objects{deployments: map[string]*appsv1.Deployment{}, configMaps: map[string]*corev1.ConfigMap{},
		secrets: map[string]*corev1.Secret{}, services: map[string]*corev1.Service{}, jobs: map[string]*batchv1.Job{},
		pdbs: map[string]*policyv1.PodDisruptionBudget{}, netpols: map[string]*networkingv1.NetworkPolicy{}}
	for _, d := range docs {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(d), &head); err != nil {
			t.Fatalf("%s: %v\n%s", where, err, d)
		}
		name := head.Metadata.Name
		strict := func(into any) {
			if err := yaml.UnmarshalStrict([]byte(d), into); err != nil {
				t.Errorf("%s: %s %s does not decode strictly as %s: %v", where, head.Kind, name, head.APIVersion, err)
			}
		}
		switch head.APIVersion + "/" + head.Kind {
		case "apps/v1/Deployment":
			v := &appsv1.Deployment{}
			strict(v)
			o.deployments[name] = v
		case "v1/ConfigMap":
			v := &corev1.ConfigMap{}
			strict(v)
			o.configMaps[name] = v
		case "v1/Secret":
			v := &corev1.Secret{}
			strict(v)
			o.secrets[name] = v
		case "v1/Service":
			v := &corev1.Service{}
			strict(v)
			o.services[name] = v
		case "batch/v1/Job":
			v := &batchv1.Job{}
			strict(v)
			o.jobs[name] = v
		case "policy/v1/PodDisruptionBudget":
			v := &policyv1.PodDisruptionBudget{}
			strict(v)
			o.pdbs[name] = v
		case "networking.k8s.io/v1/NetworkPolicy":
			v := &networkingv1.NetworkPolicy{}
			strict(v)
			o.netpols[name] = v
		case "v1/Namespace":
			strict(&corev1.Namespace{})
			o.other = append(o.other, "Namespace/"+name)
		default:
			t.Errorf("%s: unexpected object %s %s %s", where, head.APIVersion, head.Kind, name)
		}
	}
	return o
}

// checkPods holds every pod template to the bar: numeric non-root user,
// no privilege escalation, read-only root, every capability dropped,
// resources set, a versioned image, secrets only by reference, and the
// config volume from a ConfigMap that exists.
func checkPods(t *testing.T, o *objects, wantTag string) {
	t.Helper()
	pods := map[string]corev1.PodSpec{}
	for n, d := range o.deployments {
		pods["Deployment/"+n] = d.Spec.Template.Spec
		if sel, lbl := d.Spec.Selector.MatchLabels, d.Spec.Template.Labels; !subset(sel, lbl) {
			t.Errorf("Deployment/%s: selector %v does not match the template's labels %v", n, sel, lbl)
		}
	}
	for n, j := range o.jobs {
		pods["Job/"+n] = j.Spec.Template.Spec
	}
	for name, p := range pods {
		sc := p.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != nonrootUID {
			t.Errorf("%s: pod securityContext %+v, want runAsNonRoot and runAsUser %d", name, sc, nonrootUID)
		}
		if p.AutomountServiceAccountToken == nil || *p.AutomountServiceAccountToken {
			t.Errorf("%s mounts a service account token", name)
		}
		for _, c := range p.Containers {
			if !strings.HasSuffix(c.Image, ":"+wantTag) {
				t.Errorf("%s: image %q, want tag %s", name, c.Image, wantTag)
			}
			cs := c.SecurityContext
			if cs == nil || cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation || cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem ||
				cs.Capabilities == nil || !slices.Equal(cs.Capabilities.Drop, []corev1.Capability{"ALL"}) {
				t.Errorf("%s: container securityContext %+v", name, cs)
			}
			if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("%s: no memory request or limit", name)
			}
			for _, e := range c.Env {
				if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					t.Errorf("%s: env %s is not from a Secret", name, e.Name)
				}
			}
		}
		for _, v := range p.Volumes {
			if v.ConfigMap != nil && o.configMaps[v.ConfigMap.Name] == nil {
				t.Errorf("%s: volume %s names ConfigMap %s, which is not rendered (have %v)", name, v.Name, v.ConfigMap.Name, keys(o.configMaps))
			}
		}
	}
	for _, want := range []string{"serve", "worker"} {
		found := false
		for n, d := range o.deployments {
			if d.Spec.Template.Labels["app.kubernetes.io/component"] != want {
				continue
			}
			found = true
			c := d.Spec.Template.Spec.Containers[0]
			if c.Args[0] != want || c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
				t.Errorf("Deployment/%s: args %v, probes %+v %+v", n, c.Args, c.LivenessProbe, c.ReadinessProbe)
			}
			if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
				t.Errorf("Deployment/%s: replicas %v", n, d.Spec.Replicas)
			}
			if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" && p.ContainerPort == 9090 }) {
				t.Errorf("Deployment/%s: no metrics port 9090: %v", n, c.Ports)
			}
			covered := false
			for _, pdb := range o.pdbs {
				covered = covered || subset(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
			}
			if !covered {
				t.Errorf("Deployment/%s: no PodDisruptionBudget selects its pods", n)
			}
			netpol := false
			for _, np := range o.netpols {
				netpol = netpol || subset(np.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels)
			}
			if !netpol {
				t.Errorf("Deployment/%s: no NetworkPolicy selects its pods", n)
			}
		}
		if !found {
			t.Errorf("no %s Deployment", want)
		}
	}
}

func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func splitDocs(s string) []string {
	var out []string
	for _, d := range strings.Split(s, "\n---") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(d), &m); err == nil && len(m) == 0 {
			continue // only comments
		}
		out = append(out, d)
	}
	return out
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func renderChart(t *testing.T, vals map[string]any) (map[string]string, error) {
	t.Helper()
	ch, err := loader.Load("../helm/kinetic")
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	rv, err := util.ToRenderValues(ch, vals, common.ReleaseOptions{Name: "prod", Namespace: "kinetic", IsInstall: true, Revision: 1}, nil)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, rv)
}

// TestHelmChart renders deployments/helm/kinetic with Helm's own engine
// (helm.sh/helm/v4, what `helm template` runs), with the shipped
// Kubernetes service file and the production policy, and validates every
// object.
func TestHelmChart(t *testing.T) {
	config, policy := read(t, "deployments/kubernetes/kinetic.yaml"), read(t, "configs/policy.production.yaml")
	base := func() map[string]any {
		return map[string]any{"config": config, "policy": policy,
			"secrets":          map[string]any{"existingSecret": "kinetic-secrets"},
			"connectorSecrets": map[string]any{"existingSecret": "kinetic-connector-secrets"}}
	}
	out, err := renderChart(t, base())
	if err != nil {
		t.Fatalf("rendering: %v", err)
	}
	var docs []string
	for _, name := range slices.Sorted(mapKeys(out)) {
		if strings.HasSuffix(name, ".yaml") {
			docs = append(docs, splitDocs(out[name])...)
		}
	}
	o := decode(t, "helm", docs)
	checkPods(t, o, "0.1.0")
	cm := o.configMaps["prod-kinetic-config"]
	if cm == nil {
		t.Fatalf("no ConfigMap prod-kinetic-config: %v", keys(o.configMaps))
	}
	if cm.Data["kinetic.yaml"] != config || cm.Data["policy.yaml"] != policy {
		t.Error("the ConfigMap does not hold the given files byte for byte")
	}
	if len(o.secrets) != 0 {
		t.Errorf("with existingSecret the chart still renders Secrets %v", keys(o.secrets))
	}
	if o.jobs["prod-kinetic-migrate"] == nil || o.jobs["prod-kinetic-migrate"].Annotations["helm.sh/hook"] != "pre-install,pre-upgrade" {
		t.Error("no migrate hook Job")
	}
	if len(o.pdbs) != 2 || len(o.netpols) != 1 || o.services["prod-kinetic"] == nil {
		t.Errorf("PDBs %v, NetworkPolicies %v, Services %v", keys(o.pdbs), keys(o.netpols), keys(o.services))
	}

	t.Run("chart-made secrets", func(t *testing.T) {
		v := base()
		v["secrets"] = map[string]any{"databaseDSN": "postgres://k:SECRET@db/k", "redisPassword": "r", "apiToken": "t"}
		v["connectorSecrets"] = map[string]any{"env": map[string]any{"KINETIC_OKTA_TOKEN": "okta"}}
		v["worker"] = map[string]any{"replicas": 5}
		out, err := renderChart(t, v)
		if err != nil {
			t.Fatal(err)
		}
		o := decode(t, "helm", splitDocs(out["kinetic/templates/secret.yaml"]+"\n---\n"+out["kinetic/templates/worker.yaml"]))
		if s := o.secrets["prod-kinetic-secrets"]; s == nil || s.StringData["database-dsn"] != "postgres://k:SECRET@db/k" || s.StringData["api-token"] != "t" {
			t.Errorf("secret %+v", s)
		}
		if s := o.secrets["prod-kinetic-connector-secrets"]; s == nil || s.StringData["KINETIC_OKTA_TOKEN"] != "okta" {
			t.Errorf("connector secret %+v", s)
		}
		if d := o.deployments["prod-kinetic-worker"]; d == nil || *d.Spec.Replicas != 5 {
			t.Errorf("worker replicas not 5")
		}
	})
	t.Run("required values", func(t *testing.T) {
		for key, want := range map[string]string{"config": "config is required", "policy": "policy is required", "secrets": "secrets.databaseDSN or secrets.existingSecret is required"} {
			v := base()
			delete(v, key)
			if _, err := renderChart(t, v); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("without %s: err = %v, want %q", key, err, want)
			}
		}
	})
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestKustomize renders deployments/kubernetes with kustomize's own API
// (sigs.k8s.io/kustomize/api, what `kubectl kustomize` runs) and checks
// the generated ConfigMap is configs/policy.production.yaml and
// kubernetes/kinetic.yaml byte for byte, under a hashed name every pod
// mounts.
func TestKustomize(t *testing.T) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(repo, "deployments/kubernetes"))
	if err != nil {
		t.Fatalf("kustomize: %v", err)
	}
	var docs []string
	for _, r := range m.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	o := decode(t, "kustomize", docs)
	checkPods(t, o, "0.1.0")
	if len(o.configMaps) != 1 {
		t.Fatalf("ConfigMaps %v, want one", keys(o.configMaps))
	}
	for name, cm := range o.configMaps {
		if !strings.HasPrefix(name, "kinetic-config-") || cm.Namespace != "kinetic" {
			t.Errorf("ConfigMap %s/%s: want a hashed kinetic-config in namespace kinetic", cm.Namespace, name)
		}
		if cm.Data["policy.yaml"] != read(t, "configs/policy.production.yaml") || cm.Data["kinetic.yaml"] != read(t, "deployments/kubernetes/kinetic.yaml") {
			t.Errorf("ConfigMap %s is not configs/policy.production.yaml + kubernetes/kinetic.yaml (keys %v)", name, keys(cm.Data))
		}
	}
	if len(o.pdbs) != 2 || len(o.netpols) != 1 {
		t.Errorf("PDBs %v, NetworkPolicies %v", keys(o.pdbs), keys(o.netpols))
	}
}

// TestCompose loads deployments/docker-compose.yaml with compose-spec's
// Go loader (what docker compose runs): interpolation, the extension
// anchor, depends_on conditions and the worker replicas.
func TestCompose(t *testing.T) {
	load := func(env []string) (*projectSummary, error) {
		opts, err := cli.NewProjectOptions([]string{filepath.Join(repo, "deployments/docker-compose.yaml")},
			cli.WithEnv(env), cli.WithName("kinetic"))
		if err != nil {
			return nil, err
		}
		p, err := opts.LoadProject(context.Background())
		if err != nil {
			return nil, err
		}
		s := &projectSummary{services: map[string][]string{}}
		for name, svc := range p.Services {
			s.services[name] = svc.Command
			if name == "worker" && svc.Deploy != nil && svc.Deploy.Replicas != nil {
				s.workerReplicas = *svc.Deploy.Replicas
			}
			if name == "kinetic" {
				s.dsn = svc.Environment["KINETIC_DATABASE_DSN"]
				s.readOnly = svc.ReadOnly
				s.dependsMigrate = svc.DependsOn["migrate"].Condition
			}
		}
		return s, nil
	}
	s, err := load([]string{"POSTGRES_PASSWORD=pg-pw", "KINETIC_REDIS_PASSWORD=r-pw", "KINETIC_API_TOKEN=tok"})
	if err != nil {
		t.Fatalf("compose-go: %v", err)
	}
	want := map[string]string{"migrate": "migrate", "kinetic": "serve", "worker": "worker"}
	for svc, cmd := range want {
		if c := s.services[svc]; len(c) == 0 || c[0] != cmd {
			t.Errorf("service %s runs %v, want kinetic %s", svc, c, cmd)
		}
	}
	if _, ok := s.services["postgres"]; !ok {
		t.Error("no postgres service")
	}
	if s.workerReplicas != 2 || s.dsn == nil || !strings.Contains(*s.dsn, ":pg-pw@postgres:5432/") || !s.readOnly || s.dependsMigrate != "service_completed_successfully" {
		t.Errorf("summary %+v", s)
	}
	if _, err := load(nil); err == nil || !strings.Contains(err.Error(), "POSTGRES_PASSWORD") {
		t.Errorf("without the .env values: err = %v, want the required POSTGRES_PASSWORD named", err)
	}
}

type projectSummary struct {
	services       map[string][]string
	workerReplicas int
	dsn            *string
	readOnly       bool
	dependsMigrate string
}
