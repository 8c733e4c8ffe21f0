package node

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"hull/internal/vm"
)

// ConflictMessage is what SmartOS's vmadm says (exit status 1) when a
// create or update gives a NIC a MAC, address or VRRP id that another VM
// of the node holds.
const ConflictMessage = "Conflict detected with another vm, please check the MAC, IP, and VRID"

// ConflictError is a NIC conflict: its message is SmartOS's, word for
// word; Detail says which VM holds what, as SmartOS's log does.
type ConflictError struct{ Detail string }

func (e *ConflictError) Error() string { return ConflictMessage }

// nicConflicts refuses a NIC whose MAC or VRRP id another VM of the node
// has, or a static address another VM's NIC holds on the same nic tag and
// VLAN: two such NICs could not both work, and the filter of one would
// drop the other's traffic. Addresses compare without their prefix
// length (10.0.0.5/24 and 10.0.0.5/16 are one address).
func nicConflicts(v *vm.VM, others []*vm.VM) error {
	type where struct {
		tag  string
		vlan int
	}
	key := func(nic vm.NIC) where {
		w := where{tag: nic.NicTag}
		if nic.VlanID != nil {
			w.vlan = *nic.VlanID
		}
		return w
	}
	macs := map[string]string{}
	vrids := map[int]string{}
	ips := map[where]map[string]string{}
	for _, o := range others {
		if o.UUID == v.UUID {
			continue
		}
		for _, nic := range o.Nics {
			macs[nic.MAC] = o.UUID
			if nic.VRRPVRID != nil {
				vrids[*nic.VRRPVRID] = o.UUID
			}
			for _, s := range nic.IPs {
				ip, _, ok := strings.Cut(s, "/")
				if !ok {
					continue // dhcp, addrconf
				}
				if ips[key(nic)] == nil {
					ips[key(nic)] = map[string]string{}
				}
				ips[key(nic)][ip] = o.UUID
			}
		}
	}
	for _, nic := range v.Nics {
		if owner, ok := macs[nic.MAC]; ok {
			return &ConflictError{fmt.Sprintf("%s already has MAC %s", owner, nic.MAC)}
		}
		if nic.VRRPVRID != nil {
			if owner, ok := vrids[*nic.VRRPVRID]; ok {
				return &ConflictError{fmt.Sprintf("%s already has VRID %d", owner, *nic.VRRPVRID)}
			}
		}
		for _, s := range nic.IPs {
			ip, _, ok := strings.Cut(s, "/")
			if !ok {
				continue
			}
			if owner, ok := ips[key(nic)][ip]; ok {
				return &ConflictError{fmt.Sprintf("%s already has IP %s on nic tag %s", owner, ip, nic.NicTag)}
			}
		}
	}
	return nil
}

// A reservation holds the NICs of a create or update in flight, from the
// conflict check until the VM object that carries them is saved: without
// it, two operations could each find an address free and both take it.
// It is a file in $HULL_ROOT/nics/ that its process keeps flock'ed; the
// kernel drops the lock when the process dies, so a reservation whose
// lock can be taken is a dead operation's and is removed.
type reservation struct {
	UUID string   `json:"uuid"`
	Nics []vm.NIC `json:"nics"`
}

func (n *Node) reservationDir() string { return filepath.Join(n.Root, "nics") }

// reserveNICs checks v's NICs against every other VM of the node and every
// reservation in flight, and records its own, under one node-wide lock:
// of two operations that want the same MAC, address or VRRP id, exactly
// one gets it. The caller calls release once the VM object holding the
// NICs is saved, or the operation has failed.
func (n *Node) reserveNICs(v *vm.VM) (release func(), err error) {
	if len(v.Nics) == 0 {
		return func() {}, nil
	}
	unlock, err := n.lockReservations()
	if err != nil {
		return nil, err
	}
	defer unlock()
	others, err := n.liveReservations()
	if err != nil {
		return nil, err
	}
	vms, err := n.storedVMs()
	if err != nil {
		return nil, err
	}
	if err := nicConflicts(v, append(others, vms...)); err != nil {
		return nil, err
	}
	b, err := json.Marshal(reservation{UUID: v.UUID, Nics: v.Nics})
	if err != nil {
		return nil, err
	}
	id := make([]byte, 6)
	rand.Read(id)
	path := filepath.Join(n.reservationDir(), v.UUID+"-"+hex.EncodeToString(id)+".json")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("reserve NICs: %w", err)
	}
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
	if err == nil {
		_, err = f.Write(b)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("reserve NICs: %w", err)
	}
	return func() {
		// Under the node-wide lock, so that no check sees the file
		// between its removal and its unlocking.
		if unlock, err := n.lockReservations(); err == nil {
			defer unlock()
		}
		os.Remove(path)
		f.Close()
	}, nil
}

// lockReservations takes the node-wide lock of NIC checks: the lock of
// a VM named "nics", in the node's locks/ with the VMs' own.
func (n *Node) lockReservations() (func(), error) {
	if err := os.MkdirAll(n.reservationDir(), 0o700); err != nil {
		return nil, fmt.Errorf("reserve NICs: %w", err)
	}
	return n.lock("nics")
}

// liveReservations reads the reservations of operations in flight, as
// VMs, and removes those of dead ones. The caller holds the lock.
func (n *Node) liveReservations() ([]*vm.VM, error) {
	ents, err := os.ReadDir(n.reservationDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("NIC reservations: %w", err)
	}
	var out []*vm.VM
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(n.reservationDir(), e.Name())
		f, err := os.Open(path)
		if err != nil {
			continue // released meanwhile
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			os.Remove(path) // its process is gone
			f.Close()
			continue
		}
		var r reservation
		err = json.NewDecoder(f).Decode(&r)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("NIC reservation %s: %w", e.Name(), err)
		}
		out = append(out, &vm.VM{UUID: r.UUID, Nics: r.Nics})
	}
	return out, nil
}
