package node

import (
	"encoding/json"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/vm"
)

// Change is one changed property in a modify event. Path is vminfod's
// prettyPath ("state", "snapshots.*"); in JSON it is also given as
// vminfod's path array (["snapshots", null]: null for any element).
type Change struct {
	Path   string
	Action string // added, removed or changed
	Old    any
	New    any
}

// changeJSON is a Change as vminfod writes it.
type changeJSON struct {
	PrettyPath string    `json:"prettyPath"`
	Path       []*string `json:"path"`
	Action     string    `json:"action"`
	Old        any       `json:"oldValue,omitempty"`
	New        any       `json:"newValue,omitempty"`
}

// MarshalJSON writes vminfod's shape.
func (c Change) MarshalJSON() ([]byte, error) {
	var path []*string
	for _, p := range strings.Split(c.Path, ".") {
		if p == "*" {
			path = append(path, nil)
			continue
		}
		path = append(path, &p)
	}
	return json.Marshal(changeJSON{PrettyPath: c.Path, Path: path, Action: c.Action, Old: c.Old, New: c.New})
}

// UnmarshalJSON reads vminfod's shape, and the older one whose path was
// the pretty path itself.
func (c *Change) UnmarshalJSON(b []byte) error {
	var raw struct {
		PrettyPath string          `json:"prettyPath"`
		Path       json.RawMessage `json:"path"`
		Action     string          `json:"action"`
		Old        any             `json:"oldValue"`
		New        any             `json:"newValue"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*c = Change{Path: raw.PrettyPath, Action: raw.Action, Old: raw.Old, New: raw.New}
	if c.Path == "" {
		_ = json.Unmarshal(raw.Path, &c.Path)
	}
	return nil
}

// propertyChanges describes the top-level properties that an update
// changed, with their old and new values as `vmadm get` shows them.
func propertyChanges(cur, next *vm.VM, props []string) []Change {
	a, b := jsonFields(cur), jsonFields(next)
	out := make([]Change, 0, len(props))
	for _, p := range props {
		old, had := a[p]
		nw, has := b[p]
		c := Change{Path: p, Action: "changed", Old: old, New: nw}
		switch {
		case !had && !has:
			continue
		case !had:
			c.Action = "added"
		case !has:
			c.Action = "removed"
		}
		out = append(out, c)
	}
	return out
}

// jsonFields is a VM object as a map of its JSON properties.
func jsonFields(v *vm.VM) map[string]any {
	b, err := vm.JSON(v)
	if err != nil {
		return nil
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
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
