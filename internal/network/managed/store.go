package managed

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/atomicfile"
	"hull/internal/config"
	"hull/internal/vm"
)

// Store holds the node's networks ($HULL_ROOT/networks/<uuid>.json) and
// the addresses handed out on them (networks/leases.json: network uuid →
// MAC → address), both for static assignments and DHCP leases, so the
// allocator and the DHCP server agree.
type Store struct {
	Dir       string
	Resolvers []string // the node's dns_resolvers, for the default network
}

// Open returns the store of the node at root.
func Open(root string, resolvers []string) *Store {
	return &Store{Dir: filepath.Join(root, "networks"), Resolvers: resolvers}
}

// ErrNotFound is returned for a network that does not exist.
var ErrNotFound = errors.New("no such network")

// List returns every network, the built-in default first, then by name.
func (s *Store) List() ([]Network, error) {
	out := []Network{Default(s.Resolvers)}
	ents, err := os.ReadDir(s.Dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("networks: %w", err)
	}
	var stored []Network
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") || e.Name() == "leases.json" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.Dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("networks: %w", err)
		}
		var n Network
		if err := json.Unmarshal(b, &n); err != nil {
			return nil, fmt.Errorf("networks: %s: %w", e.Name(), err)
		}
		stored = append(stored, n)
	}
	sort.Slice(stored, func(i, j int) bool { return stored[i].Name < stored[j].Name })
	return append(out, stored...), nil
}

// Get finds a network by uuid or name.
func (s *Store) Get(key string) (Network, error) {
	all, err := s.List()
	if err != nil {
		return Network{}, err
	}
	for _, n := range all {
		if n.UUID == key || n.Name == key {
			return n, nil
		}
	}
	return Network{}, fmt.Errorf("network %q: %w", key, ErrNotFound)
}

// Create validates and stores a new network.
func (s *Store) Create(n Network) (Network, error) {
	unlock, err := s.lock()
	if err != nil {
		return n, err
	}
	defer unlock()
	all, err := s.List()
	if err != nil {
		return n, err
	}
	n.Builtin = false
	if err := Normalize(&n, all); err != nil {
		return n, err
	}
	return n, writeFile(filepath.Join(s.Dir, n.UUID+".json"), n.MarshalIndent())
}

// Delete removes a network that no NIC uses.
func (s *Store) Delete(key string) (Network, error) {
	unlock, err := s.lock()
	if err != nil {
		return Network{}, err
	}
	defer unlock()
	n, err := s.Get(key)
	if err != nil {
		return n, err
	}
	if n.Builtin {
		return n, fmt.Errorf("network %q is built in and cannot be deleted", n.Name)
	}
	l, err := s.leases()
	if err != nil {
		return n, err
	}
	if k := len(l[n.UUID]); k > 0 {
		return n, fmt.Errorf("network %q is in use by %d NIC(s)", n.Name, k)
	}
	if err := os.Remove(filepath.Join(s.Dir, n.UUID+".json")); err != nil {
		return n, fmt.Errorf("delete network %q: %w", n.Name, err)
	}
	return n, nil
}

// leaseMap is network uuid → MAC → assignment.
type leaseMap map[string]map[string]lease

// lease is one address assignment; Since lets Prune spare assignments
// whose VM is still being created.
type lease struct {
	IP    string `json:"ip"`
	Since int64  `json:"since"`
}

// PruneGrace is how old an assignment without a VM must be before Prune
// drops it: older than any create in flight.
const PruneGrace = 10 * time.Minute

func (s *Store) leases() (leaseMap, error) {
	l := leaseMap{}
	b, err := os.ReadFile(filepath.Join(s.Dir, "leases.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("network leases: %w", err)
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("network leases: %w", err)
	}
	return l, nil
}

func (s *Store) saveLeases(l leaseMap) error {
	for k, m := range l {
		if len(m) == 0 {
			delete(l, k)
		}
	}
	b, _ := json.MarshalIndent(l, "", "  ")
	return writeFile(filepath.Join(s.Dir, "leases.json"), b)
}

// Leases returns the MAC → address assignments of one network.
func (s *Store) Leases(network string) (map[string]netip.Addr, error) {
	l, err := s.leases()
	if err != nil {
		return nil, err
	}
	out := map[string]netip.Addr{}
	for mac, a := range l[network] {
		if ip, err := netip.ParseAddr(a.IP); err == nil {
			out[mac] = ip
		}
	}
	return out, nil
}

// Assign gives the NICs of v that name a network_uuid their addresses:
// a NIC with no ips gets the lowest free address of the range (plus the
// network's gateway), a NIC with ips ["dhcp"] gets a lease the DHCP
// server hands out, and static addresses given on the network are
// recorded so that nobody else gets them. The primary NIC's network
// supplies resolvers when the VM has none. Nothing is stored when any
// NIC fails.
func (s *Store) Assign(v *vm.VM) error {
	if !slices.ContainsFunc(v.Nics, func(n vm.NIC) bool { return n.NetworkUUID != "" }) {
		return nil
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	l, err := s.leases()
	if err != nil {
		return err
	}
	for i := range v.Nics {
		nic := &v.Nics[i]
		if nic.NetworkUUID == "" {
			continue
		}
		n, err := s.Get(nic.NetworkUUID)
		if err != nil {
			return fmt.Errorf("Invalid network_uuid %q for NIC %s: %w", nic.NetworkUUID, nic.MAC, err)
		}
		if err := assignNIC(n, nic, l); err != nil {
			return err
		}
		if nic.Primary && len(v.Resolvers) == 0 {
			v.Resolvers = append([]string{}, n.Resolvers...)
		}
	}
	return s.saveLeases(l)
}

func assignNIC(n Network, nic *vm.NIC, l leaseMap) error {
	if nic.NicTag != "" && nic.NicTag != n.NicTag {
		return fmt.Errorf("NIC %s: nic_tag %q does not match network %q (nic tag %q)", nic.MAC, nic.NicTag, n.Name, n.NicTag)
	}
	nic.NicTag = n.NicTag
	if n.VlanID != 0 && nic.VlanID == nil {
		nic.VlanID = &n.VlanID
	}
	if nic.MTU == 0 && n.MTU != 0 {
		nic.MTU = n.MTU
	}
	mine := l[n.UUID]
	if mine == nil {
		mine = map[string]lease{}
		l[n.UUID] = mine
	}
	now := time.Now().Unix()
	takenBy := func(a netip.Addr) string {
		for mac, s := range mine {
			if s.IP == a.String() && mac != nic.MAC {
				return mac
			}
		}
		return ""
	}
	var used []netip.Addr
	for mac, s := range mine {
		if a, err := netip.ParseAddr(s.IP); err == nil && mac != nic.MAC {
			used = append(used, a)
		}
	}
	p := n.Prefix()
	var static []netip.Addr
	dhcp := false
	for _, s := range nic.IPs {
		if s == "dhcp" {
			dhcp = true
			continue
		}
		if a, err := netip.ParsePrefix(s); err == nil && p.Contains(a.Addr()) {
			static = append(static, a.Addr())
		}
	}
	switch {
	case len(static) > 0:
		for _, a := range static {
			if other := takenBy(a); other != "" {
				return fmt.Errorf("IP address %s on network %q is already in use by NIC %s", a, n.Name, other)
			}
		}
		mine[nic.MAC] = lease{static[0].String(), now}
	case len(nic.IPs) == 0 || dhcp:
		a, err := netip.ParseAddr(mine[nic.MAC].IP)
		if err != nil {
			if a, err = Allocate(n, used); err != nil {
				return err
			}
		}
		mine[nic.MAC] = lease{a.String(), now}
		if dhcp {
			return nil
		}
		nic.IPs = []string{n.CIDR(a)}
		nic.IP, nic.Netmask = a.String(), n.Netmask
		if n.Gateway != "" && len(nic.Gateways) == 0 {
			nic.Gateways = []string{n.Gateway}
			nic.Gateway = n.Gateway
		}
	}
	return nil
}

// Release drops the addresses of the given MACs (NICs removed, VM
// deleted, or a create undone).
func (s *Store) Release(macs ...string) error {
	return s.editLeases(func(mac string, _ lease) bool { return slices.Contains(macs, mac) })
}

// Prune drops the addresses of MACs no VM has any more: what a crash
// between Assign and saving the VM leaves. Assignments younger than
// PruneGrace are kept: their VM may be being created.
func (s *Store) Prune(live []string) error {
	old := time.Now().Add(-PruneGrace).Unix()
	return s.editLeases(func(mac string, l lease) bool { return !slices.Contains(live, mac) && l.Since < old })
}

func (s *Store) editLeases(drop func(mac string, l lease) bool) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	l, err := s.leases()
	if err != nil {
		return err
	}
	changed := false
	for _, m := range l {
		for mac, a := range m {
			if drop(mac, a) {
				delete(m, mac)
				changed = true
			}
		}
	}
	if !changed {
		return nil
	}
	return s.saveLeases(l)
}

// lock serialises writers of the store across processes.
func (s *Store) lock() (func(), error) {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("networks: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("networks: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("networks: lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// writeFile replaces a file atomically and durably.
func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), atomicfile.Options{Mode: 0o644, Sync: true})
}

// FillTags completes a create or update payload before validation: a NIC
// (in nics or add_nics) that names a network_uuid but no nic_tag gets
// the network's nic tag (and VLAN), as NAPI fills them for vmadm.
func (s *Store) FillTags(payload []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		return payload, nil // vm's own parser reports bad JSON
	}
	changed := false
	for _, key := range []string{"nics", "add_nics"} {
		raw, ok := m[key]
		if !ok {
			continue
		}
		var nics []map[string]any
		if err := json.Unmarshal(raw, &nics); err != nil {
			return payload, nil
		}
		for _, nic := range nics {
			id, _ := nic["network_uuid"].(string)
			if id == "" {
				continue
			}
			if _, has := nic["nic_tag"]; has {
				continue
			}
			n, err := s.Get(id)
			if err != nil {
				return nil, fmt.Errorf("Invalid network_uuid %q: %w", id, err)
			}
			nic["nic_tag"] = n.NicTag
			if _, has := nic["vlan_id"]; !has && n.VlanID != 0 {
				nic["vlan_id"] = n.VlanID
			}
			changed = true
		}
		m[key], _ = json.Marshal(nics)
	}
	if !changed {
		return payload, nil
	}
	return json.Marshal(m)
}

// ForNode opens the managed networks of the node at root, with the node
// config's dns_resolvers for the built-in default network.
func ForNode(root string) (*Store, error) {
	c, err := config.Load(root)
	if err != nil {
		return nil, err
	}
	var res []string
	for _, r := range strings.Split(c.Value("dns_resolvers", ""), ",") {
		if r = strings.TrimSpace(r); r != "" {
			res = append(res, r)
		}
	}
	return Open(root, res), nil
}
