// Package wireguardtest brings up real userspace WireGuard interfaces
// (golang.zx2c4.com/wireguard, wireguard-go) in a network namespace the
// test process creates, for the wireguard package's tests and the
// end-to-end tests. Nothing in production imports it.
package wireguardtest

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/ipc"
	"golang.zx2c4.com/wireguard/tun"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Tests run the connector against the real userspace WireGuard
// (golang.zx2c4.com/wireguard, wireguard-go): a TUN device from
// /dev/net/tun, created inside a network namespace of the test's own (an
// unshare(CLONE_NEWNET) on one locked OS thread, the equivalent of `ip
// netns add` without a name in /run/netns, gone when the test process
// ends), driven over its UAPI socket in /var/run/wireguard, which wgctrl
// finds as it would a wg-quick or boringtun interface. Nothing is brought
// up and no address is assigned, so the host's networking is untouched.

// Netns runs functions on an OS thread that lives in the test's
// network namespace.
type Netns struct{ run chan func() }

var (
	nsOnce sync.Once
	nsW    *Netns
	nsErr  error
	ifSeq  atomic.Int32
)

// netns starts the namespace thread once per test process.
func netns() (*Netns, error) {
	nsOnce.Do(func() {
		w := &Netns{run: make(chan func())}
		ready := make(chan error, 1)
		go func() {
			// Never unlocked: when this goroutine ends, the runtime ends
			// the thread instead of reusing it in the wrong namespace.
			runtime.LockOSThread()
			if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
				ready <- fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
				return
			}
			ready <- nil
			for f := range w.run {
				f()
			}
		}()
		if nsErr = <-ready; nsErr == nil {
			nsW = w
		}
	})
	return nsW, nsErr
}

// Available returns the namespace worker, or why this machine cannot run
// wireguard-go devices (not Linux, not root, no /dev/net/tun, no network
// namespace) for a test that leaves only its WireGuard part out.
func Available() (*Netns, string) {
	switch {
	case runtime.GOOS != "linux":
		return nil, "the real-device tests need Linux (TUN and network namespaces)"
	case os.Geteuid() != 0:
		return nil, "the real-device tests need root (CAP_NET_ADMIN for the TUN device and the namespace)"
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return nil, "/dev/net/tun is missing: " + err.Error()
	}
	w, err := netns()
	if err != nil {
		return nil, "cannot create a network namespace: " + err.Error()
	}
	return w, ""
}

// Require returns the namespace worker or skips the test with the
// reason; under CI (CI=true) a missing capability fails it instead.
func Require(t testing.TB) *Netns {
	t.Helper()
	w, reason := Available()
	if reason != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("under CI the WireGuard tests must run: %s", reason)
		}
		t.Skip(reason)
	}
	return w
}

// NewInterface creates a wireguard-go interface on a real TUN device in
// the namespace, with its UAPI socket, and returns its name. It is closed
// when the test ends.
func NewInterface(t testing.TB, w *Netns) string {
	t.Helper()
	name := fmt.Sprintf("kwg%d_%d", os.Getpid()%100000, ifSeq.Add(1))
	var (
		dev  *device.Device
		uapi net.Listener
		err  error
	)
	done := make(chan struct{})
	w.run <- func() {
		defer close(done)
		var td tun.Device
		if td, err = tun.CreateTUN(name, device.DefaultMTU); err != nil {
			err = fmt.Errorf("create TUN %s: %w", name, err)
			return
		}
		dev = device.NewDevice(td, conn.NewDefaultBind(), device.NewLogger(device.LogLevelSilent, ""))
		var f *os.File
		if f, err = ipc.UAPIOpen(name); err != nil {
			dev.Close()
			err = fmt.Errorf("UAPI socket for %s: %w", name, err)
			return
		}
		if uapi, err = ipc.UAPIListen(name, f); err != nil {
			dev.Close()
			err = fmt.Errorf("UAPI listen for %s: %w", name, err)
		}
	}
	<-done
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("this machine refuses a userspace WireGuard device: %v", err)
	}
	go func() {
		for {
			c, err := uapi.Accept()
			if err != nil {
				return
			}
			go dev.IpcHandle(c)
		}
	}()
	t.Cleanup(func() {
		uapi.Close()
		dev.Close()
	})
	// A private key, as every real interface has one; the connector must
	// never repeat it.
	priv, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	Configure(t, name, wgtypes.Config{PrivateKey: &priv})
	return name
}

// Configure applies cfg to the interface with the real wgctrl client.
func Configure(t testing.TB, iface string, cfg wgtypes.Config) {
	t.Helper()
	cl, err := wgctrl.New()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ConfigureDevice(iface, cfg); err != nil {
		t.Fatalf("Configure %s: %v", iface, err)
	}
}

// AddPeers adds peers with the given public keys to iface.
func AddPeers(t testing.TB, iface string, keys ...wgtypes.Key) {
	t.Helper()
	var pcs []wgtypes.PeerConfig
	for i, k := range keys {
		_, ipn, _ := net.ParseCIDR(fmt.Sprintf("10.77.%d.%d/32", ifSeq.Load()%250, i+1))
		pcs = append(pcs, wgtypes.PeerConfig{PublicKey: k, AllowedIPs: []net.IPNet{*ipn}})
	}
	Configure(t, iface, wgtypes.Config{Peers: pcs})
}

// PeerKeys reads iface's peers with the real wgctrl client.
func PeerKeys(t testing.TB, iface string) []wgtypes.Key {
	t.Helper()
	cl, err := wgctrl.New()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	d, err := cl.Device(iface)
	if err != nil {
		t.Fatalf("read %s: %v", iface, err)
	}
	var out []wgtypes.Key
	for _, p := range d.Peers {
		out = append(out, p.PublicKey)
	}
	return out
}

// PrivateKey reads iface's private key (base64) with the real wgctrl client.
func PrivateKey(t testing.TB, iface string) string {
	t.Helper()
	cl, err := wgctrl.New()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	d, err := cl.Device(iface)
	if err != nil {
		t.Fatal(err)
	}
	return d.PrivateKey.String()
}

// NewKey returns a fresh public key.
func NewKey(t testing.TB) wgtypes.Key {
	t.Helper()
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey()
}
