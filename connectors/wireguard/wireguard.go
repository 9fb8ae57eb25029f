// Package wireguard is the connector for WireGuard VPN servers: revoke_vpn
// removes every peer (public key) of the departing person from the
// configured WireGuard interfaces on this host, and Lookup and Verify read
// the interfaces back to show which of those peers remain.
//
// It talks to the interfaces through golang.zx2c4.com/wireguard/wgctrl,
// which drives the Linux kernel module over generic netlink and userspace
// implementations (wireguard-go, boringtun) over their UAPI sockets in
// /var/run/wireguard (https://www.wireguard.com/xplatform/). Both need the
// process to hold CAP_NET_ADMIN (netlink) or write access to the sockets:
// Kinetic's worker runs this connector on the VPN host, or in a sidecar
// sharing its network namespace.
//
// WireGuard knows keys, not people, so the key-to-person mapping comes from
// a peers file (YAML: person → keys, the person named by HR employee id,
// email or username) and/or an HR attribute of the subject holding the
// person's public keys (comma separated). A key mapped to two people is a
// broken mapping and refused, not guessed at.
//
// A removed peer cannot complete a handshake: WireGuard drops its packets
// at once, so removal both revokes the identity and ends the live tunnel.
// Removal is not persisted to the interface's configuration file (wg-quick
// rewrites it only with SaveConfig = true); the peers file, which the VPN's
// own provisioning should also read, must drop the keys too, and the
// nightly reconciliation Lookup finds any peer that comes back.
package wireguard

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
	"gopkg.in/yaml.v3"

	"github.com/kineticsec/kinetic/connectors"
)

// TypeName is the connector type name configuration uses.
const TypeName = "wireguard"

// Config is the wireguard block of a connector instance. At least one of
// PeersFile and KeyAttribute is required.
type Config struct {
	// Interfaces are the WireGuard interfaces to remove peers from, e.g.
	// [wg0]. Required.
	Interfaces []string `yaml:"interfaces"`
	// PeersFile is a YAML file mapping each person to their public keys:
	//
	//	dana@example.com: [base64 key, …]
	//	E100: [base64 key]
	//
	// A person is named by HR employee id, email or username (matched
	// case-insensitively). It is read on every call, so edits apply at
	// once.
	PeersFile string `yaml:"peers_file"`
	// KeyAttribute names a subject attribute (from the HR record) holding
	// the person's public keys, comma separated, e.g. wireguard_keys.
	KeyAttribute string `yaml:"key_attribute"`
}

var ifaceRE = regexp.MustCompile(`^[A-Za-z0-9_.=+-]{1,15}$`)

// Validate reports every problem with the block, joined.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(c.Interfaces) == 0 {
		add("interfaces is required (e.g. [wg0])")
	}
	seen := map[string]bool{}
	for i, n := range c.Interfaces {
		switch {
		case !ifaceRE.MatchString(n):
			add("interfaces[%d]: %q is not an interface name (1-15 characters)", i, n)
		case seen[n]:
			add("interfaces[%d]: %s is listed twice", i, n)
		}
		seen[n] = true
	}
	if strings.TrimSpace(c.PeersFile) == "" && strings.TrimSpace(c.KeyAttribute) == "" {
		add("peers_file or key_attribute is required (how a person's public keys are found)")
	}
	return errors.Join(errs...)
}

// Operations returns what an instance offers: revoke_vpn.
func Operations(Config) []connectors.Operation {
	return []connectors.Operation{connectors.OpRevokeVPN}
}

// Client is the part of *wgctrl.Client the connector uses.
type Client interface {
	Device(name string) (*wgtypes.Device, error)
	ConfigureDevice(name string, cfg wgtypes.Config) error
	Close() error
}

// Option adjusts a Connector at construction.
type Option func(*Connector)

// WithClient replaces how the connector opens its WireGuard control
// client (default wgctrl.New); each call opens one and closes it.
func WithClient(open func() (Client, error)) Option {
	return func(c *Connector) {
		if open != nil {
			c.open = open
		}
	}
}

// Connector is one configured set of WireGuard interfaces on this host. It
// implements connectors.Connector and connectors.Verifier and is safe for
// concurrent use.
type Connector struct {
	name   string
	cfg    Config
	ifaces []string
	open   func() (Client, error)
}

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Verifier  = (*Connector)(nil)
)

// New returns the connector named name; cfg must validate. The peers file
// is read, and must parse, here and on every call.
func New(name string, cfg Config, opts ...Option) (*Connector, error) {
	if name == "" {
		name = TypeName
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("wireguard connector %q: %w", name, err)
	}
	c := &Connector{name: name, cfg: cfg, ifaces: slices.Clone(cfg.Interfaces),
		open: func() (Client, error) { return wgctrl.New() }}
	for _, o := range opts {
		o(c)
	}
	if cfg.PeersFile != "" {
		if _, err := readPeers(cfg.PeersFile); err != nil {
			return nil, fmt.Errorf("wireguard connector %q: peers_file: %w", name, err)
		}
	}
	return c, nil
}

// Name returns the instance name.
func (c *Connector) Name() string { return c.name }

// peers is the parsed peers file: lower-cased person → keys.
type peers map[string][]wgtypes.Key

// readPeers parses the peers file. A malformed key, or one key under two
// people, is an error naming the entry (never a whole key: public keys are
// not secret, but the message stays short).
func readPeers(path string) (peers, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, errors.Unwrap(err))
	}
	var raw map[string][]string
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s is not a YAML map of person to keys: %v", path, err)
	}
	out := peers{}
	owner := map[wgtypes.Key]string{}
	for person, keys := range raw {
		p := strings.ToLower(strings.TrimSpace(person))
		if p == "" {
			return nil, fmt.Errorf("%s: an entry has an empty person", path)
		}
		for i, k := range keys {
			key, err := wgtypes.ParseKey(strings.TrimSpace(k))
			if err != nil {
				return nil, fmt.Errorf("%s: %s[%d] is not a WireGuard public key (base64 of 32 bytes)", path, person, i)
			}
			if prev, ok := owner[key]; ok && prev != p {
				return nil, fmt.Errorf("%s: key %s is listed for both %s and %s; a key belongs to one person", path, short(key), prev, p)
			}
			owner[key] = p
			if !slices.Contains(out[p], key) {
				out[p] = append(out[p], key)
			}
		}
	}
	return out, nil
}

// short shows the start of a public key, enough to find it in wg show.
func short(k wgtypes.Key) string { return k.String()[:8] + "…" }

// keysFor returns the subject's public keys from the peers file and the
// key attribute, without repeats.
func (c *Connector) keysFor(op string, s connectors.Subject) ([]wgtypes.Key, error) {
	var keys []wgtypes.Key
	addKey := func(k wgtypes.Key) {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	var ps peers
	if c.cfg.PeersFile != "" {
		var err error
		if ps, err = readPeers(c.cfg.PeersFile); err != nil {
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("peers_file: %w", err))
		}
		for _, id := range subjectIDs(s) {
			for _, k := range ps[id] {
				addKey(k)
			}
		}
	}
	if a := c.cfg.KeyAttribute; a != "" {
		for i, v := range strings.Split(s.Attributes[a], ",") {
			if v = strings.TrimSpace(v); v == "" {
				continue
			}
			k, err := wgtypes.ParseKey(v)
			if err != nil {
				return nil, connectors.NewError(connectors.KindInvalid, c.name, op,
					fmt.Errorf("HR attribute %s, item %d, is not a WireGuard public key", a, i))
			}
			// A key the peers file gives to somebody else is the same key
			// found for two people: refuse rather than guess whose it is.
			if other := ps.owner(k); other != "" && !slices.Contains(subjectIDs(s), other) {
				return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf(
					"key %s from HR attribute %s belongs to %s in peers_file; a key belongs to one person", short(k), a, other))
			}
			addKey(k)
		}
	}
	return keys, nil
}

// subjectIDs are the lower-cased names a peers file may give the subject.
func subjectIDs(s connectors.Subject) []string {
	var out []string
	for _, id := range []string{s.EmployeeID, s.Email, s.Username} {
		if id = strings.ToLower(strings.TrimSpace(id)); id != "" {
			out = append(out, id)
		}
	}
	return out
}

// owner returns the person the peers file gives key k, or "".
func (ps peers) owner(k wgtypes.Key) string {
	for p, ks := range ps {
		if slices.Contains(ks, k) {
			return p
		}
	}
	return ""
}

// found is one of the person's peers present on an interface.
type found struct {
	iface string
	peer  wgtypes.Peer
}

func (f found) id() string { return f.iface + "/" + f.peer.PublicKey.String() }

// scan reads every interface and returns the person's peers on them.
func (c *Connector) scan(ctx context.Context, op string, cl Client, keys []wgtypes.Key) ([]found, error) {
	var out []found
	for _, iface := range c.ifaces {
		dev, err := call(ctx, func() (*wgtypes.Device, error) { return cl.Device(iface) })
		if err != nil {
			return nil, c.classify(ctx, op, iface, "read", err)
		}
		for _, p := range dev.Peers {
			if slices.Contains(keys, p.PublicKey) {
				out = append(out, found{iface: iface, peer: p})
			}
		}
	}
	return out, nil
}

// call runs f (wgctrl takes no context) and returns early when ctx ends;
// f then finishes on its own, and the operations are idempotent.
func call[T any](ctx context.Context, f func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// classify turns a wgctrl error into a classified one naming the
// interface: a missing interface is not_found, a permission failure
// forbidden (the process needs CAP_NET_ADMIN or the UAPI socket), a
// malformed request invalid, the rest (a socket reset, a busy device)
// transient.
func (c *Connector) classify(ctx context.Context, op, iface, what string, err error) *connectors.Error {
	kind := connectors.KindTransient
	msg := fmt.Sprintf("%s WireGuard interface %s", what, iface)
	switch {
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		kind = connectors.KindCanceled
	case errors.Is(err, os.ErrNotExist):
		kind = connectors.KindNotFound
		msg += ": no such WireGuard interface on this host (kernel or userspace)"
	case errors.Is(err, os.ErrPermission), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		kind = connectors.KindForbidden
		msg += ": permission denied (the worker needs CAP_NET_ADMIN, or access to /var/run/wireguard)"
	case errors.Is(err, syscall.EINVAL):
		kind = connectors.KindInvalid
	}
	return connectors.NewError(kind, c.name, op, fmt.Errorf("%s: %w", msg, err))
}

func (c *Connector) connect(ctx context.Context, op string) (Client, error) {
	cl, err := call(ctx, c.open)
	if err != nil {
		return nil, c.classify(ctx, op, strings.Join(c.ifaces, ","), "open the control socket of", err)
	}
	return cl, nil
}

// Lookup reports each of the person's peers present on an interface as an
// active account "iface/public key".
func (c *Connector) Lookup(ctx context.Context, s connectors.Subject) (connectors.LookupResult, error) {
	const op = "lookup"
	keys, err := c.keysFor(op, s)
	if err != nil || len(keys) == 0 {
		return connectors.LookupResult{}, err
	}
	cl, err := c.connect(ctx, op)
	if err != nil {
		return connectors.LookupResult{}, err
	}
	defer cl.Close()
	fs, err := c.scan(ctx, op, cl, keys)
	if err != nil {
		return connectors.LookupResult{}, err
	}
	var res connectors.LookupResult
	for _, f := range fs {
		detail := "WireGuard peer on " + f.iface
		sessions := 0
		if !f.peer.LastHandshakeTime.IsZero() {
			detail += ", last handshake " + f.peer.LastHandshakeTime.UTC().Format("2006-01-02 15:04:05Z")
			sessions = 1
		}
		res.Accounts = append(res.Accounts, connectors.Account{
			ID: f.id(), Kind: "wireguard_peer", Status: connectors.StatusActive, Sessions: sessions, Detail: detail,
		})
	}
	return res, nil
}

// Do performs revoke_vpn: each of the person's peers found on an interface
// is removed (one ConfigureDevice per interface, Remove: true per key),
// then that interface is read back; a peer still there is a transient
// error. An interface that fails does not stop the others.
func (c *Connector) Do(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	if req.Operation != connectors.OpRevokeVPN {
		return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("operation %q is not supported by wireguard (supported: %s)", req.Operation, connectors.OpRevokeVPN))
	}
	keys, err := c.keysFor(op, req.Subject)
	if err != nil {
		return connectors.Result{}, err
	}
	if len(keys) == 0 {
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Detail: "no WireGuard key is mapped to this person"}, nil
	}
	cl, err := c.connect(ctx, op)
	if err != nil {
		return connectors.Result{}, err
	}
	defer cl.Close()

	var removed []string
	var failed []*connectors.Error
	for _, iface := range c.ifaces {
		dev, err := call(ctx, func() (*wgtypes.Device, error) { return cl.Device(iface) })
		if err != nil {
			failed = append(failed, c.classify(ctx, op, iface, "read", err))
			continue
		}
		var rm []wgtypes.PeerConfig
		for _, p := range dev.Peers {
			if slices.Contains(keys, p.PublicKey) {
				rm = append(rm, wgtypes.PeerConfig{PublicKey: p.PublicKey, Remove: true})
			}
		}
		if len(rm) == 0 {
			continue
		}
		if _, err := call(ctx, func() (struct{}, error) {
			return struct{}{}, cl.ConfigureDevice(iface, wgtypes.Config{Peers: rm})
		}); err != nil {
			failed = append(failed, c.classify(ctx, op, iface, "remove peers from", err))
			continue
		}
		back, err := call(ctx, func() (*wgtypes.Device, error) { return cl.Device(iface) })
		if err != nil {
			failed = append(failed, c.classify(ctx, op, iface, "read back", err))
			continue
		}
		for _, p := range back.Peers {
			if slices.Contains(keys, p.PublicKey) {
				failed = append(failed, connectors.NewError(connectors.KindTransient, c.name, op,
					fmt.Errorf("peer %s is still on WireGuard interface %s after its removal (re-added by another process?)", short(p.PublicKey), iface)))
			}
		}
		for _, r := range rm {
			removed = append(removed, iface+"/"+short(r.PublicKey))
		}
	}
	if len(failed) > 0 {
		msgs := make([]string, len(failed))
		for i, f := range failed {
			msgs[i] = f.Err.Error()
		}
		did := "nothing removed"
		if len(removed) > 0 {
			did = "removed: " + strings.Join(removed, ", ")
		}
		first := failed[0]
		return connectors.Result{}, &connectors.Error{Kind: first.Kind, Connector: c.name, Op: op,
			Err: fmt.Errorf("%d interface step(s) failed (%s); %s: %w", len(failed), strings.Join(msgs, " | "), did, first.Err)}
	}
	if len(removed) == 0 {
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone,
			Detail: fmt.Sprintf("none of %d mapped key(s) is a peer on %s", len(keys), strings.Join(c.ifaces, ", "))}, nil
	}
	return connectors.Result{Outcome: connectors.OutcomeDone,
		Detail: fmt.Sprintf("removed %d peer(s): %s", len(removed), strings.Join(removed, ", ")),
		Data:   map[string]string{"removed_peers": strings.Join(removed, ",")}}, nil
}

// Verify reads every interface back: OK when none of the person's keys is
// a peer on any of them.
func (c *Connector) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	const op = "verify"
	if req.Operation != connectors.OpRevokeVPN {
		return connectors.Verification{}, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("operation %q is not supported by wireguard", req.Operation))
	}
	keys, err := c.keysFor(op, req.Subject)
	if err != nil {
		return connectors.Verification{}, err
	}
	if len(keys) == 0 {
		return connectors.Verification{OK: true, Detail: "no WireGuard key is mapped to this person"}, nil
	}
	cl, err := c.connect(ctx, op)
	if err != nil {
		return connectors.Verification{}, err
	}
	defer cl.Close()
	fs, err := c.scan(ctx, op, cl, keys)
	if err != nil {
		return connectors.Verification{}, err
	}
	if len(fs) == 0 {
		return connectors.Verification{OK: true, Detail: fmt.Sprintf("none of %d mapped key(s) is a peer on %s", len(keys), strings.Join(c.ifaces, ", "))}, nil
	}
	ids := make([]string, len(fs))
	for i, f := range fs {
		ids[i] = f.iface + "/" + short(f.peer.PublicKey)
	}
	return connectors.Verification{OK: false, Detail: "still peers: " + strings.Join(ids, ", ")}, nil
}
