package wireguard

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/conformance"
	"github.com/kineticsec/kinetic/connectors/wireguard/wireguardtest"
)

var (
	dana   = connectors.Subject{EmployeeID: "E100", Username: "dana", Email: "Dana@Example.com"}
	nobody = connectors.Subject{EmployeeID: "E999", Username: "nobody", Email: "nobody@example.com"}
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func revoke(s connectors.Subject) connectors.Request {
	return connectors.Request{Operation: connectors.OpRevokeVPN, Subject: s}
}

// writePeers writes a peers file mapping each person to keys.
func writePeers(t *testing.T, m map[string][]wgtypes.Key) string {
	t.Helper()
	var b strings.Builder
	for p, ks := range m {
		fmt.Fprintf(&b, "%q:\n", p)
		for _, k := range ks {
			fmt.Fprintf(&b, "  - %q\n", k.String())
		}
	}
	path := filepath.Join(t.TempDir(), "peers.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRevokeOnRealInterfaces: dana has two keys in the peers file (by
// email, differently cased, and by employee id) and one in her HR record's
// key attribute, spread over two interfaces; sam's peer must stay.
func TestRevokeOnRealInterfaces(t *testing.T) {
	w := wireguardtest.Require(t)
	wgA, wgB := wireguardtest.NewInterface(t, w), wireguardtest.NewInterface(t, w)
	k1, k2, k3, sam := wireguardtest.NewKey(t), wireguardtest.NewKey(t), wireguardtest.NewKey(t), wireguardtest.NewKey(t)
	wireguardtest.AddPeers(t, wgA, k1, k2, sam)
	wireguardtest.AddPeers(t, wgB, k2, k3)
	file := writePeers(t, map[string][]wgtypes.Key{"dana@example.com": {k1}, "E100": {k2}, "sam@example.com": {sam}})
	c, err := New("wg-vpn", Config{Interfaces: []string{wgA, wgB}, PeersFile: file, KeyAttribute: "wireguard_keys"})
	if err != nil {
		t.Fatal(err)
	}
	subj := dana
	subj.Attributes = map[string]string{"wireguard_keys": " " + k3.String() + " ,"}

	look, err := c.Lookup(ctxT(t), subj)
	if err != nil || len(look.Accounts) != 4 {
		t.Fatalf("Lookup = %+v, %v; want 4 peers (k1, k2 on %s; k2, k3 on %s)", look, err, wgA, wgB)
	}
	// The device lists its peers in its own order: find k1's account.
	i := slices.IndexFunc(look.Accounts, func(a connectors.Account) bool { return a.ID == wgA+"/"+k1.String() })
	if i < 0 || look.Accounts[i].Status != connectors.StatusActive {
		t.Errorf("no active account %s/%s among %+v", wgA, k1, look.Accounts)
	}
	ver, err := c.Verify(ctxT(t), revoke(subj))
	if err != nil || ver.OK {
		t.Fatalf("Verify before = %+v, %v; want not OK", ver, err)
	}

	res, err := c.Do(ctxT(t), revoke(subj))
	if err != nil || res.Outcome != connectors.OutcomeDone {
		t.Fatalf("Do = %+v, %v", res, err)
	}
	if !strings.Contains(res.Detail, "removed 4 peer(s)") {
		t.Errorf("Detail %q", res.Detail)
	}
	if got := wireguardtest.PeerKeys(t, wgA); !slices.Equal(got, []wgtypes.Key{sam}) {
		t.Errorf("%s peers after = %v, want only sam's", wgA, got)
	}
	if got := wireguardtest.PeerKeys(t, wgB); len(got) != 0 {
		t.Errorf("%s peers after = %v, want none", wgB, got)
	}
	ver, err = c.Verify(ctxT(t), revoke(subj))
	if err != nil || !ver.OK {
		t.Fatalf("Verify after = %+v, %v", ver, err)
	}
	again, err := c.Do(ctxT(t), revoke(subj))
	if err != nil || again.Outcome != connectors.OutcomeAlreadyDone {
		t.Fatalf("second Do = %+v, %v", again, err)
	}
	if res, err := c.Do(ctxT(t), revoke(nobody)); err != nil || res.Outcome != connectors.OutcomeNoneFound {
		t.Fatalf("Do(nobody) = %+v, %v", res, err)
	}
	for _, text := range []string{res.Detail, ver.Detail, again.Detail} {
		for _, iface := range []string{wgA, wgB} {
			if strings.Contains(text, wireguardtest.PrivateKey(t, iface)) {
				t.Errorf("the interface's private key appears in %q", text)
			}
		}
	}
}

// TestFailures covers what can go wrong on the host.
func TestFailures(t *testing.T) {
	t.Run("a missing interface is not_found and does not stop the others", func(t *testing.T) {
		w := wireguardtest.Require(t)
		wg := wireguardtest.NewInterface(t, w)
		k := wireguardtest.NewKey(t)
		wireguardtest.AddPeers(t, wg, k)
		c, err := New("wg-vpn", Config{Interfaces: []string{"kwgmissing0", wg}, PeersFile: writePeers(t, map[string][]wgtypes.Key{"dana": {k}})})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Do(ctxT(t), revoke(dana))
		assertErr(t, err, connectors.KindNotFound, false, "no such WireGuard interface")
		if !strings.Contains(err.Error(), "removed: "+wg+"/") {
			t.Errorf("error %q does not report what was removed", err)
		}
		if got := wireguardtest.PeerKeys(t, wg); len(got) != 0 {
			t.Errorf("peers left on %s: %v", wg, got)
		}
	})

	t.Run("a key under two people is refused", func(t *testing.T) {
		k := wireguardtest.NewKey(t)
		_, err := New("wg-vpn", Config{Interfaces: []string{"wg0"}, PeersFile: writePeers(t, map[string][]wgtypes.Key{"dana": {k}, "sam": {k}})})
		if err == nil || !strings.Contains(err.Error(), "is listed for both") {
			t.Fatalf("New = %v", err)
		}
	})

	t.Run("an HR key that the peers file gives someone else is refused", func(t *testing.T) {
		k := wireguardtest.NewKey(t)
		c, err := New("wg-vpn", Config{Interfaces: []string{"wg0"}, KeyAttribute: "wireguard_keys", PeersFile: writePeers(t, map[string][]wgtypes.Key{"sam@example.com": {k}})})
		if err != nil {
			t.Fatal(err)
		}
		subj := dana
		subj.Attributes = map[string]string{"wireguard_keys": k.String()}
		_, err = c.Do(ctxT(t), revoke(subj))
		assertErr(t, err, connectors.KindInvalid, false, "belongs to sam@example.com in peers_file")
	})

	t.Run("a peers file broken after start is an invalid error naming it", func(t *testing.T) {
		file := writePeers(t, map[string][]wgtypes.Key{"dana": {wireguardtest.NewKey(t)}})
		c, err := New("wg-vpn", Config{Interfaces: []string{"wg0"}, PeersFile: file})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte("dana: [not-a-key]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err = c.Do(ctxT(t), revoke(dana))
		assertErr(t, err, connectors.KindInvalid, false, "is not a WireGuard public key")
	})

	for _, tc := range []struct {
		name      string
		err       error
		kind      connectors.Kind
		retryable bool
		mention   string
	}{
		{"permission denied", syscall.EPERM, connectors.KindForbidden, false, "CAP_NET_ADMIN"},
		{"socket reset", syscall.ECONNRESET, connectors.KindTransient, true, "connection reset"},
		{"invalid request", syscall.EINVAL, connectors.KindInvalid, false, "invalid argument"},
	} {
		t.Run(tc.name+" from the control socket", func(t *testing.T) {
			c, err := New("wg-vpn", Config{Interfaces: []string{"wg0"}, PeersFile: writePeers(t, map[string][]wgtypes.Key{"dana": {wireguardtest.NewKey(t)}})},
				WithClient(func() (Client, error) { return nil, tc.err }))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Do(ctxT(t), revoke(dana))
			assertErr(t, err, tc.kind, tc.retryable, tc.mention)
		})
	}
}

func assertErr(t *testing.T, err error, kind connectors.Kind, retryable bool, mention string) {
	t.Helper()
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *connectors.Error", err, err)
	}
	if ce.Kind != kind || connectors.IsRetryable(err) != retryable {
		t.Fatalf("error kind %s retryable %t, want %s %t: %v", ce.Kind, connectors.IsRetryable(err), kind, retryable, err)
	}
	if !strings.Contains(err.Error(), mention) || !strings.Contains(err.Error(), "wg-vpn") {
		t.Errorf("error %q does not mention %q and the instance", err, mention)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg  Config
		want string
	}{
		"no interfaces":  {Config{PeersFile: "p"}, "interfaces is required"},
		"bad name":       {Config{Interfaces: []string{"wg 0"}, PeersFile: "p"}, "interfaces[0]"},
		"too long":       {Config{Interfaces: []string{"wg0123456789abcd"}, PeersFile: "p"}, "interfaces[0]"},
		"twice":          {Config{Interfaces: []string{"wg0", "wg0"}, PeersFile: "p"}, "interfaces[1]: wg0 is listed twice"},
		"no key mapping": {Config{Interfaces: []string{"wg0"}}, "peers_file or key_attribute"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}

// faults injects one failure at the control socket, or stalls it, in
// front of the real wgctrl client.
type faults struct {
	mu    sync.Mutex
	next  error
	stall chan struct{}
}

func (f *faults) open() (Client, error) {
	f.mu.Lock()
	err, stall := f.next, f.stall
	f.next = nil
	f.mu.Unlock()
	if stall != nil {
		<-stall
	}
	if err != nil {
		return nil, err
	}
	return wgctrl.New()
}

func TestConformance(t *testing.T) {
	w := wireguardtest.Require(t)
	injectors := map[connectors.Connector]*faults{}
	conformance.Run(t, conformance.Harness{
		New: func(t *testing.T) connectors.Connector {
			wg := wireguardtest.NewInterface(t, w)
			k := wireguardtest.NewKey(t)
			wireguardtest.AddPeers(t, wg, k, wireguardtest.NewKey(t))
			f := &faults{}
			c, err := New("wg-vpn", Config{Interfaces: []string{wg}, PeersFile: writePeers(t, map[string][]wgtypes.Key{"dana@example.com": {k}})}, WithClient(f.open))
			if err != nil {
				t.Fatal(err)
			}
			injectors[c] = f
			return c
		},
		Present: dana,
		Missing: nobody,
		Ops:     []connectors.Operation{connectors.OpRevokeVPN},
		InjectFailure: func(t *testing.T, c connectors.Connector, k connectors.Kind) {
			var err error
			switch k {
			case connectors.KindTransient:
				err = syscall.ECONNRESET
			case connectors.KindForbidden:
				err = syscall.EPERM
			case connectors.KindInvalid:
				err = syscall.EINVAL
			default:
				// WireGuard's control socket has no rate limit and no
				// credentials: a permission failure is forbidden.
				t.Skipf("WireGuard's control socket cannot fail with %s", k)
			}
			f := injectors[c]
			f.mu.Lock()
			f.next = err
			f.mu.Unlock()
		},
		Slow: func(t *testing.T, c connectors.Connector) {
			f := injectors[c]
			f.mu.Lock()
			f.stall = make(chan struct{})
			t.Cleanup(func() { close(f.stall) })
			f.mu.Unlock()
		},
	})
}

// counting passes every call to the real wgctrl client and counts it.
type counting struct {
	Client
	mu    sync.Mutex
	calls []string
}

func (c *counting) note(s string) { c.mu.Lock(); c.calls = append(c.calls, s); c.mu.Unlock() }

func (c *counting) Device(name string) (*wgtypes.Device, error) {
	c.note("Device " + name)
	return c.Client.Device(name)
}

func (c *counting) ConfigureDevice(name string, cfg wgtypes.Config) error {
	c.note(fmt.Sprintf("ConfigureDevice %s remove %d", name, len(cfg.Peers)))
	return c.Client.ConfigureDevice(name, cfg)
}

// TestCallsPerDeparture counts the control-socket calls of one departure
// on two interfaces, each holding one of the person's peers: a read per
// interface, a removal and a read-back where there was something to
// remove; Verify reads each interface once.
func TestCallsPerDeparture(t *testing.T) {
	w := wireguardtest.Require(t)
	wgA, wgB := wireguardtest.NewInterface(t, w), wireguardtest.NewInterface(t, w)
	k1, k2 := wireguardtest.NewKey(t), wireguardtest.NewKey(t)
	wireguardtest.AddPeers(t, wgA, k1)
	wireguardtest.AddPeers(t, wgB, k2)
	var cc *counting
	c, err := New("wg-vpn", Config{Interfaces: []string{wgA, wgB}, PeersFile: writePeers(t, map[string][]wgtypes.Key{"dana": {k1, k2}})},
		WithClient(func() (Client, error) {
			real, err := wgctrl.New()
			if err != nil {
				return nil, err
			}
			cc.Client = real
			return cc, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	cc = &counting{}
	if res, err := c.Do(ctxT(t), revoke(dana)); err != nil || res.Outcome != connectors.OutcomeDone {
		t.Fatalf("Do = %+v, %v", res, err)
	}
	want := []string{"Device " + wgA, "ConfigureDevice " + wgA + " remove 1", "Device " + wgA, "Device " + wgB, "ConfigureDevice " + wgB + " remove 1", "Device " + wgB}
	if !slices.Equal(cc.calls, want) {
		t.Fatalf("calls %v, want %v", cc.calls, want)
	}
	t.Logf("revoke_vpn: %d calls", len(cc.calls))
	cc = &counting{}
	if ver, err := c.Verify(ctxT(t), revoke(dana)); err != nil || !ver.OK {
		t.Fatalf("Verify = %+v, %v", ver, err)
	}
	if len(cc.calls) != 2 {
		t.Fatalf("verify calls %v", cc.calls)
	}
}
