package graph_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/bot/teams/appcred"
	"github.com/kineticsec/kinetic/bot/teams/graph"
	"github.com/kineticsec/kinetic/bot/teams/teamstest"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

const tenant = "3f2e1d0c-9b8a-4f6e-8d5c-4b3a2f1e0d9c"

type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return nil
}

func newClient(t *testing.T, g *teamstest.Graph) (*graph.Client, *sleeps) {
	t.Helper()
	sl := &sleeps{}
	pol := &outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}, RootCAs: g.CertPool()}
	c, err := graph.New(graph.Config{AppID: g.AppID, AppPassword: secret.FromValue(g.Secret), TenantID: tenant, BaseURL: g.URL(), TokenURL: g.TokenURL()},
		pol, graph.WithSleep(sl.sleep))
	if err != nil {
		t.Fatal(err)
	}
	return c, sl
}

func seed(g *teamstest.Graph) {
	g.AddUser(teamstest.GraphUser{ID: "u-1", Mail: "hal@example.test", UPN: "hal@corp.example.test"})
	g.AddUser(teamstest.GraphUser{ID: "u-2", UPN: "hana@example.test"}) // no mail: the UPN is the email
	g.AddUser(teamstest.GraphUser{ID: "u-3", Mail: "mia@example.test", UPN: "mia@example.test"})
	g.SetGroup("g-hr", "u-1", "u-2", "u-3")
}

func wantRequests(t *testing.T, g *teamstest.Graph, want ...string) {
	t.Helper()
	var got []string
	for _, r := range g.Requests() {
		got = append(got, r.Method+" "+r.Path+" "+r.Query)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("requests:\n got %q\nwant %q", got, want)
	}
}

// TestRequestsInOrder: each call's method, path and query, in order,
// with one cached token; the group listing follows @odata.nextLink.
func TestRequestsInOrder(t *testing.T) {
	g := teamstest.NewGraph(t)
	seed(g)
	c, _ := newClient(t, g)
	ctx := context.Background()
	u, err := c.User(ctx, "u-1")
	if err != nil || u.Email() != "hal@example.test" {
		t.Fatalf("user u-1: %+v %v", u, err)
	}
	u, err = c.User(ctx, "u-2")
	if err != nil || u.Email() != "hana@example.test" {
		t.Fatalf("user u-2 (no mail): %+v %v", u, err)
	}
	u, err = c.User(ctx, "mia@example.test")
	if err != nil || u.ID != "u-3" {
		t.Fatalf("user by UPN: %+v %v", u, err)
	}
	users, err := c.GroupUsers(ctx, "g-hr")
	if err != nil || len(users) != 3 || users[2].ID != "u-3" {
		t.Fatalf("group: %+v %v", users, err)
	}
	const sel = "$select=id%2Cmail%2CuserPrincipalName"
	wantRequests(t, g,
		"GET /v1.0/users/u-1 "+sel,
		"GET /v1.0/users/u-2 "+sel,
		"GET /v1.0/users/mia@example.test "+sel,
		"GET /v1.0/groups/g-hr/transitiveMembers/microsoft.graph.user "+sel+"&$top=999",
		"GET /v1.0/groups/g-hr/transitiveMembers/microsoft.graph.user %24select=id%2Cmail%2CuserPrincipalName&%24skiptoken=2&%24top=999",
	)
	if n := g.TokenRequests(); n != 1 {
		t.Errorf("%d token requests, want 1 (cached)", n)
	}
}

// TestStatuses: every interesting answer, classified; a missing user or
// group is ErrNotFound; 429 and 5xx are retried honoring Retry-After; no
// error carries the secret or the token.
func TestStatuses(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		n          int
		retryAfter string
		ok         bool
		retryable  bool
		notFound   bool
		sleeps     []time.Duration
	}{
		{name: "401 is permanent", status: 401, n: 1},
		{name: "403 (permission not granted) is permanent", status: 403, n: 1},
		{name: "404 is not found", status: 404, n: 1, notFound: true},
		{name: "429 with Retry-After is retried after it", status: 429, n: 1, retryAfter: "7", ok: true, sleeps: []time.Duration{7 * time.Second}},
		{name: "503 twice then an answer", status: 503, n: 2, ok: true, sleeps: []time.Duration{time.Second, 2 * time.Second}},
		{name: "500 every time is retryable", status: 500, n: 5, retryable: true, sleeps: []time.Duration{time.Second, 2 * time.Second}},
		{name: "an HTML 502 is retryable", status: -502, n: 5, retryable: true, sleeps: []time.Duration{time.Second, 2 * time.Second}},
		{name: "429 asking too long fails at once, retryable", status: 429, n: 1, retryAfter: "3600", retryable: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := teamstest.NewGraph(t)
			seed(g)
			c, sl := newClient(t, g)
			g.Fail(tc.n, tc.status, tc.retryAfter)
			_, err := c.GroupUsers(context.Background(), "g-hr")
			if tc.ok {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
			} else {
				var ae *graph.APIError
				if !errors.As(err, &ae) {
					t.Fatalf("want an APIError, got %v", err)
				}
				if ae.Retryable != tc.retryable {
					t.Errorf("retryable = %v, want %v (%v)", ae.Retryable, tc.retryable, err)
				}
				if errors.Is(err, graph.ErrNotFound) != tc.notFound {
					t.Errorf("ErrNotFound = %v, want %v (%v)", !tc.notFound, tc.notFound, err)
				}
				for _, secret := range []string{g.Secret, "fake-graph-token"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("the error carries a secret: %v", err)
					}
				}
			}
			if !slices.Equal(sl.d, tc.sleeps) {
				t.Errorf("slept %v, want %v", sl.d, tc.sleeps)
			}
		})
	}
}

func TestMissingUserAndGroupAreNotFound(t *testing.T) {
	g := teamstest.NewGraph(t)
	seed(g)
	c, _ := newClient(t, g)
	if _, err := c.User(context.Background(), "nobody"); !errors.Is(err, graph.ErrNotFound) {
		t.Errorf("missing user: %v", err)
	}
	if _, err := c.GroupUsers(context.Background(), "g-gone"); !errors.Is(err, graph.ErrNotFound) {
		t.Errorf("missing group: %v", err)
	}
}

// TestWrongSecretIsPermanentAndSecretFree: Entra's invalid_client is a
// permanent failure whose message names the problem, not the secret.
func TestWrongSecretIsPermanentAndSecretFree(t *testing.T) {
	g := teamstest.NewGraph(t)
	seed(g)
	pol := &outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}, RootCAs: g.CertPool()}
	c, err := graph.New(graph.Config{AppID: g.AppID, AppPassword: secret.FromValue("wrong-secret-value"), TenantID: tenant, BaseURL: g.URL(), TokenURL: g.TokenURL()}, pol)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.User(context.Background(), "u-1")
	var ae *graph.APIError
	if !errors.As(err, &ae) || ae.Retryable || ae.Status != 401 || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("wrong secret: %v", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-value") {
		t.Fatalf("the error carries the secret: %v", err)
	}
	if len(g.Requests()) != 0 {
		t.Fatalf("Graph was called without a token: %v", g.Requests())
	}
}

// TestPolicyRefusesGraphElsewhere: a base URL the outbound policy refuses
// is never contacted; a plain http base is refused at construction.
func TestPolicyRefusesGraphElsewhere(t *testing.T) {
	g := teamstest.NewGraph(t)
	seed(g)
	c, err := graph.New(graph.Config{AppID: g.AppID, AppPassword: secret.FromValue(g.Secret), TenantID: tenant, BaseURL: g.URL(), TokenURL: g.TokenURL()},
		&outbound.URLPolicy{RootCAs: g.CertPool()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.User(context.Background(), "u-1"); !errors.Is(err, outbound.ErrURLRefused) {
		t.Fatalf("loopback without allow_hosts: %v", err)
	}
	if len(g.Requests()) != 0 || g.TokenRequests() != 0 {
		t.Fatal("a refused URL was contacted")
	}
	if _, err := graph.New(graph.Config{AppID: g.AppID, AppPassword: secret.FromValue(g.Secret), TenantID: tenant, BaseURL: "http://graph.example.test/v1.0"}, nil); err == nil {
		t.Fatal("a plain http Graph URL was accepted")
	}
	if _, err := graph.New(graph.Config{AppID: g.AppID, AppPassword: secret.FromValue(g.Secret)}, nil); err == nil || !strings.Contains(err.Error(), "tenant_id") {
		t.Fatalf("no tenant: %v", err)
	}
}

// TestCertificateCredential: Graph's token is fetched with a client
// assertion the tenant's endpoint verifies; another key's is refused.
func TestCertificateCredential(t *testing.T) {
	g := teamstest.NewGraph(t)
	seed(g)
	tc := teamstest.NewCertificate(t, false)
	g.Secret, g.Certificate = "", tc.Cert
	pol := &outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}, RootCAs: g.CertPool()}
	for _, key := range []struct {
		name   string
		cert   teamstest.Certificate
		wantOK bool
	}{{"registered", tc, true}, {"another key", teamstest.NewCertificate(t, false), false}} {
		cert, err := appcred.ParseCertificate(key.cert.CertPEM, key.cert.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		c, err := graph.New(graph.Config{AppID: g.AppID, Certificate: cert, TenantID: tenant, BaseURL: g.URL(), TokenURL: g.TokenURL()}, pol)
		if err != nil {
			t.Fatal(err)
		}
		u, err := c.User(context.Background(), "u-1")
		var ae *graph.APIError
		switch {
		case key.wantOK && (err != nil || u.Email() != "hal@example.test"):
			t.Errorf("%s: %+v %v", key.name, u, err)
		case !key.wantOK && (!errors.As(err, &ae) || ae.Retryable || ae.Status != 401 || !strings.Contains(err.Error(), "AADSTS700027")):
			t.Errorf("%s: err = %v", key.name, err)
		}
	}
}
