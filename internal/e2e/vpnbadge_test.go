package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/kineticsec/kinetic/connectors/brivo/brivotest"
	"github.com/kineticsec/kinetic/connectors/fortigate/fortigatetest"
	"github.com/kineticsec/kinetic/connectors/globalprotect/globalprotecttest"
	"github.com/kineticsec/kinetic/connectors/verkada/verkadatest"
	"github.com/kineticsec/kinetic/connectors/wireguard/wireguardtest"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testenv"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// vpnBadgePolicy revokes VPN on FortiGate, GlobalProtect and (when the
// machine can run wireguard-go) WireGuard, and deactivates badges on two
// access-control systems, Brivo and Verkada, for the departing employee.
const vpnBadgePolicy = `version: 1
defaults:
  sla: {critical: 1h, entitlements: 4h, notifications: 24h}
  max_attempts: 4
actions:
  revoke_vpn_fortigate: {connector: fw-hq, operation: revoke_vpn, phase: critical}
  revoke_vpn_globalprotect: {connector: pa-hq, operation: revoke_vpn, phase: critical}
%s  deactivate_badge_brivo: {connector: brivo-us, operation: deactivate_badge, phase: entitlements}
  deactivate_badge_verkada: {connector: verkada-eu, operation: deactivate_badge, phase: entitlements}
rules:
  - name: vpn and badges
    when: "true"
    add: [revoke_vpn_fortigate, revoke_vpn_globalprotect, %sdeactivate_badge_brivo, deactivate_badge_verkada]
`

// TestDepartureRevokesVPNAndBadges is issue #17's "done when": one
// departure (testkit's E1, erin) whose plan revokes VPN on a FortiGate, a
// PAN-OS GlobalProtect portal and two real wireguard-go interfaces, and
// deactivates her badges on Brivo and Verkada. Kinetic is built from
// written files through compose.Load (testkit), the connectors point at
// the vendors' scripted fakes (which fail the test on any request they do
// not know), and the case runs to completion. Every action must have
// succeeded and been verified by reading back; the fakes' state must show
// it (local user disabled and sessions gone, PAN-OS user disabled and
// logged out of both gateways, erin's peers removed and sam's kept,
// Brivo user suspended with no credential, every Verkada credential
// inactive); the case's remote-access summary must name the VPN actions;
// and each connector's request count is logged and bounded.
//
// Outside CI, without root (or TUN, or a network namespace), only the
// WireGuard part is left out, with the reason logged; under CI=true it
// never is.
func TestDepartureRevokesVPNAndBadges(t *testing.T) {
	const redisDB = 9
	dir := t.TempDir()
	secretFile := func(name, value string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(value), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// FortiGate: erin's local user, an SSL-VPN session and an IPsec
	// dial-up tunnel; sam's must stay.
	fgt := fortigatetest.New(t, false)
	fgt.Mu.Lock()
	fgt.Users["erin"] = &fortigatetest.User{Name: "erin", Status: "enable"}
	fgt.Users["sam"] = &fortigatetest.User{Name: "sam", Status: "enable"}
	fgt.SSL = []fortigatetest.SSLSession{{Index: 5, User: "erin"}, {Index: 6, User: "sam"}}
	fgt.Tunnels = []*fortigatetest.Tunnel{
		{Name: "dialup_0", XAuth: "erin", Proxies: []fortigatetest.Proxy{{P2Name: "dialup-p2", Serial: 21, Status: "up"}}},
		{Name: "dialup_1", XAuth: "sam", Proxies: []fortigatetest.Proxy{{P2Name: "dialup-p2", Serial: 22, Status: "up"}}},
	}
	fgt.Mu.Unlock()

	// PAN-OS: erin is an enabled local user connected to both gateways.
	pan := globalprotecttest.New(t, false)
	pan.AddUser("erin", false)
	pan.AddUser("sam", false)
	pan.Mu.Lock()
	pan.Sessions = []globalprotecttest.Session{
		{Gateway: "gw-east", User: "erin", Computer: "ERIN-LAPTOP"},
		{Gateway: "gw-west", User: "erin", Computer: "ERIN-PHONE"},
		{Gateway: "gw-east", User: "sam", Computer: "SAM-PC"},
	}
	pan.Mu.Unlock()

	// Brivo: erin (externalId E1) holds a card and a PIN.
	brv := brivotest.New(t)
	brv.Mu.Lock()
	brv.Users["9001"] = &brivotest.User{ID: "9001", ExternalID: "E1", CustomFields: map[int]string{},
		Creds: []brivotest.Cred{{ID: 5001, Format: "HID 26 bit Card", Ref: "77", Encoded: "1a2b3c"}, {ID: 5002, Format: "PIN Code", Encoded: brivotest.PIN}}}
	brv.Users["9002"] = &brivotest.User{ID: "9002", ExternalID: "X1", CustomFields: map[int]string{},
		Creds: []brivotest.Cred{{ID: 5003, Format: "HID 26 bit Card", Ref: "78", Encoded: "4d5e6f"}}}
	brv.Mu.Unlock()

	// Verkada: erin (external_id E1) holds two cards, a plate, mobile and
	// remote unlock and an entry code.
	vkd := verkadatest.New(t)
	vkd.Mu.Lock()
	vkd.Users["0c6f3d52-erin"] = &verkadatest.User{ID: "0c6f3d52-erin", ExternalID: "E1", Email: "erin@example.test",
		Cards:  []*verkadatest.Card{{ID: "c-11", Number: "1111", Facility: "111", Active: true}, {ID: "c-12", Number: "2222", Facility: "222", Active: true}},
		Plates: []*verkadatest.Plate{{Number: "ERIN1", Active: true}},
		BLE:    true, Remote: true, EntryCode: verkadatest.EntryCode}
	vkd.Mu.Unlock()

	conns := fmt.Sprintf(`  fw-hq:
    type: fortigate
    owner: network-security
    fortigate: {url: %q, api_token: {file: %s}}
  pa-hq:
    type: globalprotect
    owner: network-security
    globalprotect: {url: %q, api_key: {file: %s}, gateways: [gw-east, gw-west], commit_admin: %s}
  brivo-us:
    type: brivo
    owner: facilities
    brivo: {api_url: %q, auth_url: %q, api_key: {file: %s}, client_id: %s, client_secret: {file: %s}, username: %s, password: {file: %s}}
  verkada-eu:
    type: verkada
    owner: facilities
    verkada: {api_url: %q, api_key: {file: %s}}
`, fgt.Srv.URL, secretFile("fgt", fortigatetest.Token),
		pan.Srv.URL, secretFile("pan", globalprotecttest.Key), globalprotecttest.Admin,
		brv.Srv.URL, brv.Srv.URL, secretFile("brivo-key", brivotest.APIKey), brivotest.ClientID, secretFile("brivo-secret", brivotest.ClientSecret), brivotest.Username, secretFile("brivo-pw", brivotest.Password),
		vkd.Srv.URL, secretFile("verkada", verkadatest.APIKey))

	// WireGuard: two real wireguard-go interfaces; erin has one key by
	// employee id and one by email, on both; sam's peer must stay.
	var (
		wgIfaces      []string
		erinKeys      []wgtypes.Key
		samKey        wgtypes.Key
		wgAction      = ""
		wgActionInAdd = ""
	)
	if ns, reason := wireguardtest.Available(); reason != "" {
		if testenv.CI() {
			t.Fatalf("under CI the WireGuard part must run: %s", reason)
		}
		t.Logf("WireGuard part left out: %s", reason)
	} else {
		wgIfaces = []string{wireguardtest.NewInterface(t, ns), wireguardtest.NewInterface(t, ns)}
		erinKeys = []wgtypes.Key{wireguardtest.NewKey(t), wireguardtest.NewKey(t)}
		samKey = wireguardtest.NewKey(t)
		wireguardtest.AddPeers(t, wgIfaces[0], erinKeys[0], samKey)
		wireguardtest.AddPeers(t, wgIfaces[1], erinKeys[0], erinKeys[1])
		peers := secretFile("wireguard-peers.yaml", fmt.Sprintf("E1: [%q]\nerin@example.test: [%q]\nX1: [%q]\n", erinKeys[0], erinKeys[1], samKey))
		conns += fmt.Sprintf(`  wg-vpn:
    type: wireguard
    owner: network-security
    wireguard: {interfaces: [%s], peers_file: %s}
`, strings.Join(wgIfaces, ", "), peers)
		wgAction = "  revoke_vpn_wireguard: {connector: wg-vpn, operation: revoke_vpn, phase: critical}\n"
		wgActionInAdd = "revoke_vpn_wireguard, "
	}

	k := testkit.New(t, testkit.Options{
		RedisDB:    redisDB,
		Policy:     fmt.Sprintf(vpnBadgePolicy, wgAction, wgActionInAdd),
		Connectors: conns,
		Service:    "outbound: {allow_hosts: [127.0.0.1]}",
	})
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	o, err := k.Engine.Open(context.Background(), engine.Request{EmployeeID: "E1", Requester: "M1", Reason: "resigned", Trigger: store.TriggerCLI})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	c := k.WaitClosed(t, o.Case.ID, 90*time.Second)
	t.Logf("case %d %s:\n%s", c.ID, c.Status, engine.Summary(c))

	// Every action succeeded and was verified by reading back.
	want := map[string]bool{"revoke_vpn_fortigate": true, "revoke_vpn_globalprotect": true, "deactivate_badge_brivo": true, "deactivate_badge_verkada": true}
	if wgAction != "" {
		want["revoke_vpn_wireguard"] = true
	}
	if c.Status != store.CaseCompleted {
		t.Errorf("case %s, want %s", c.Status, store.CaseCompleted)
	}
	for _, a := range c.Actions {
		if !want[a.Name] {
			t.Errorf("unexpected action %s on %s", a.Name, a.Connector)
			continue
		}
		delete(want, a.Name)
		if a.Status != store.ActionSucceeded || !a.Verified || a.Simulated {
			t.Errorf("%s on %s: status %s, verified %t, simulated %t (%s)", a.Name, a.Connector, a.Status, a.Verified, a.Simulated, a.Detail)
		}
	}
	for name := range want {
		t.Errorf("the plan has no %s", name)
	}

	// The remote-access summary names the VPN actions for both kinds.
	vpn := []string{"revoke_vpn_fortigate (fw-hq)", "revoke_vpn_globalprotect (pa-hq)"}
	if wgAction != "" {
		vpn = append(vpn, "revoke_vpn_wireguard (wg-vpn)")
	}
	for _, kind := range []string{"VPN identities revoked by ", "VPN sessions revoked by "} {
		i := strings.Index(c.Summary, kind)
		if i < 0 {
			t.Errorf("case summary does not say %q: %s", kind, c.Summary)
			continue
		}
		stated := c.Summary[i+len(kind):]
		if j := strings.Index(stated, ";"); j >= 0 {
			stated = stated[:j]
		}
		for _, v := range vpn {
			if !strings.Contains(stated, v) || strings.Contains(stated, v+" unverified") {
				t.Errorf("%q does not name %s as verified: %q", kind, v, stated)
			}
		}
	}

	// The fakes' state.
	fgt.Mu.Lock()
	if u := fgt.Users["erin"]; u.Status != "disable" {
		t.Errorf("FortiGate: erin's local user is %s", u.Status)
	}
	if u := fgt.Users["sam"]; u.Status != "enable" {
		t.Errorf("FortiGate: sam's local user is %s", u.Status)
	}
	for _, s := range fgt.SSL {
		if strings.EqualFold(s.User, "erin") {
			t.Errorf("FortiGate: erin's SSL-VPN session %d remains", s.Index)
		}
	}
	for _, tn := range fgt.Tunnels {
		for _, p := range tn.Proxies {
			if want := map[bool]string{true: "down", false: "up"}[tn.XAuth == "erin"]; p.Status != want {
				t.Errorf("FortiGate: %s (%s) %s is %s, want %s", tn.Name, tn.XAuth, p.P2Name, p.Status, want)
			}
		}
	}
	fgt.Mu.Unlock()

	pan.Mu.Lock()
	if !pan.Running["erin"] || pan.Running["sam"] {
		t.Errorf("PAN-OS running config: erin disabled %t (want true), sam disabled %t (want false)", pan.Running["erin"], pan.Running["sam"])
	}
	for _, s := range pan.Sessions {
		if s.User == "erin" {
			t.Errorf("GlobalProtect: erin still connected to %s from %s", s.Gateway, s.Computer)
		}
	}
	if len(pan.Sessions) != 1 {
		t.Errorf("GlobalProtect: sessions left %+v, want only sam's", pan.Sessions)
	}
	pan.Mu.Unlock()

	if wgAction != "" {
		for _, iface := range wgIfaces {
			for _, key := range wireguardtest.PeerKeys(t, iface) {
				if key == erinKeys[0] || key == erinKeys[1] {
					t.Errorf("WireGuard: erin's peer %s remains on %s", key, iface)
				}
			}
		}
		if got := wireguardtest.PeerKeys(t, wgIfaces[0]); len(got) != 1 || got[0] != samKey {
			t.Errorf("WireGuard: %s peers %v, want only sam's", wgIfaces[0], got)
		}
	}

	brv.Mu.Lock()
	if u := brv.Users["9001"]; !u.Suspended || len(u.Creds) != 0 {
		t.Errorf("Brivo: erin suspended %t, credentials left %+v", u.Suspended, u.Creds)
	}
	if u := brv.Users["9002"]; u.Suspended || len(u.Creds) != 1 {
		t.Errorf("Brivo: the colleague was touched: suspended %t, credentials %+v", u.Suspended, u.Creds)
	}
	brv.Mu.Unlock()

	vkd.Mu.Lock()
	u := vkd.Users["0c6f3d52-erin"]
	for _, card := range u.Cards {
		if card.Active {
			t.Errorf("Verkada: card %s still active", card.ID)
		}
	}
	for _, p := range u.Plates {
		if p.Active {
			t.Errorf("Verkada: plate %s still active", p.Number)
		}
	}
	if u.BLE || u.Remote || u.EntryCode != "" {
		t.Errorf("Verkada: mobile unlock %t, remote unlock %t, entry code set %t", u.BLE, u.Remote, u.EntryCode != "")
	}
	vkd.Mu.Unlock()

	// Calls per connector for this one departure: discovery (the plan's
	// lookup), the revocation (which reads the state first) and the
	// read-back verification. Measured: FortiGate 15 (4 reads each for
	// discovery, Do and Verify, plus 1 PUT, 1 SSL delete and 1 tunnel_down
	// for erin's one session and one selector); GlobalProtect 18 (4 reads
	// each, the set, the partial commit, 2 job reads, 2 client-logouts);
	// Brivo 10 (token, then user by externalId and its credentials three
	// times, suspend, 2 credential deletes); Verkada 10 (token, user read
	// three times, 2 cards, 1 plate, BLE, remote unlock, entry code).
	// WireGuard is wgctrl over the UAPI socket, not HTTP.
	counts := []struct {
		name     string
		calls    []string
		min, max int
	}{
		{"fw-hq (FortiGate)", fgt.RequestLog(), 12, 18},
		{"pa-hq (GlobalProtect)", pan.RequestLog(), 14, 22},
		{"brivo-us (Brivo)", brv.RequestLog(), 8, 12},
		{"verkada-eu (Verkada)", vkd.RequestLog(), 8, 12},
	}
	for _, n := range counts {
		t.Logf("%s: %d calls:\n  %s", n.name, len(n.calls), strings.Join(n.calls, "\n  "))
		if len(n.calls) < n.min || len(n.calls) > n.max {
			t.Errorf("%s: %d calls for one departure, want %d..%d", n.name, len(n.calls), n.min, n.max)
		}
	}
}
