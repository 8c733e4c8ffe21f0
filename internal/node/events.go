package node

import (
	"encoding/json"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/vm"
)

// Change is one changed property in a modify event.
type Change struct {
	Path   string `json:"path"`
	Action string `json:"action"`
	Old    any    `json:"oldValue,omitempty"`
	New    any    `json:"newValue,omitempty"`
}

// Event is one line of the node's event stream, shaped like vminfod's.
type Event struct {
	Type     string   `json:"type"`
	Date     string   `json:"date"`
	Zonename string   `json:"zonename"`
	UUID     string   `json:"uuid"`
	Alias    string   `json:"alias,omitempty"`
	Changes  []Change `json:"changes,omitempty"`
}

// emit appends an event to the node's event log. Events are a record of
// what happened; failing to write one never fails the operation.
func (n *Node) emit(typ string, v *vm.VM, changes []Change) {
	e := Event{Type: typ, Date: time.Now().UTC().Format(time.RFC3339Nano), Zonename: v.Zonename,
		UUID: v.UUID, Alias: v.Alias, Changes: changes}
	if e.Zonename == "" {
		e.Zonename = v.UUID
	}
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	f, err := os.OpenFile(n.EventLog(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	// One write per line under a lock keeps lines whole with many writers.
	if unix.Flock(int(f.Fd()), unix.LOCK_EX) == nil {
		f.Write(append(b, '\n'))
	}
}
