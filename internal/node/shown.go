package node

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"time"

	"hull/internal/atomicfile"
	"hull/internal/journal"
	"hull/internal/vm"
)

// What operators see of VMs that an operation is making is SmartOS's:
// "provisioning" while a create or reprovision makes one, "receiving"
// while vmadm receive brings one in (listed before its object is
// written, from a copy kept for display). It is for display only: the
// node's own decisions go by the state derived from the kernel. A VM an
// operation left half-made in a crash is shown so until the operation is
// undone or finished.

// transitions are the states shown for the journaled operations, as
// SmartOS's transition attribute has them: the state, the one it goes
// to, and how long it may take (transition_expire is the operation's
// start plus that, in epoch ms).
var transitions = map[string]struct {
	state, to string
	timeout   time.Duration
}{
	"create":      {"provisioning", "running", provisionTimeout},
	"reprovision": {"provisioning", "running", provisionTimeout},
	"receive":     {"receiving", "stopped", 24 * time.Hour},
}

// provisionTimeout is SmartOS's PROVISION_TIMEOUT.
const provisionTimeout = 300 * time.Second

// ListShown is List as vmadm list shows it.
func (n *Node) ListShown() ([]*vm.VM, error) {
	vms, err := n.List()
	if err != nil {
		return nil, err
	}
	ops, _ := journal.InFlight(n.journalDir())
	have := map[string]bool{}
	for _, v := range vms {
		have[v.UUID] = true
	}
	for _, v := range n.receiving(ops) {
		if !have[v.UUID] {
			vms = append(vms, v)
		}
	}
	showTransitions(ops, vms)
	return vms, nil
}

// GetShown is Get as vmadm get shows it.
func (n *Node) GetShown(uuid string) (*vm.VM, error) {
	ops, _ := journal.InFlight(n.journalDir())
	v, err := n.Get(uuid)
	if errors.Is(err, ErrNoSuchVM) {
		for _, r := range n.receiving(ops) {
			if r.UUID == uuid {
				v, err = r, nil
			}
		}
	}
	if err != nil {
		return nil, err
	}
	showTransitions(ops, []*vm.VM{v})
	return v, nil
}

func showTransitions(ops map[string]journal.Flight, vms []*vm.VM) {
	for _, v := range vms {
		f := ops[v.UUID]
		if t, ok := transitions[f.Op]; ok {
			v.State, v.TransitionTo = t.state, t.to
			v.TransitionExp = f.Started.Add(t.timeout).UnixMilli()
		}
	}
}

// receivingFile is the display copy of a VM being received.
func (n *Node) receivingFile(uuid string) string {
	return filepath.Join(n.runDir(), "receiving", uuid+".json")
}

// showReceiving keeps v's display copy while it is received.
func (n *Node) showReceiving(v *vm.VM) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	p := n.receivingFile(v.UUID)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(p, b, atomicfile.Options{Mode: 0o600})
}

// receiving is the VMs a receive in ops is bringing in, from their
// display copies, zone_state "incomplete" as a zone being installed.
func (n *Node) receiving(ops map[string]journal.Flight) []*vm.VM {
	var out []*vm.VM
	for uuid, f := range ops {
		if f.Op != "receive" {
			continue
		}
		b, err := os.ReadFile(n.receivingFile(uuid))
		if err != nil {
			continue
		}
		v := &vm.VM{}
		if json.Unmarshal(b, v) != nil || v.UUID != uuid {
			continue
		}
		v.ZoneState = "incomplete"
		out = append(out, v)
	}
	return out
}
