package vmadm

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	"hull/internal/node"
	"hull/internal/vm"
)

// events streams the node's events, as vmadm events does: one line per
// event (or per change of a modify event), or JSON with -j.
func (c *cli) events(args []string) error {
	var full, asJSON, ready bool
	var pos []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			for _, f := range a[1:] {
				switch f {
				case 'f':
					full = true
				case 'j':
					asJSON = true
				case 'r':
					ready = true
				default:
					return usageError{fmt.Sprintf("Unknown option: -%c", f)}
				}
			}
			continue
		}
		pos = append(pos, a)
	}
	filter := ""
	if len(pos) > 0 {
		if !node.ValidUUID(pos[0]) {
			return usageError{"Invalid or missing UUID for events"}
		}
		filter = pos[0]
	}
	n, err := c.node()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(n.EventLog(), os.O_CREATE|os.O_RDONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	// Only new events: start at the end, as a stream does.
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return err
	}
	p := &eventPrinter{w: c.env.Stdout, full: full, json: asJSON, vms: map[string]*vm.VM{}, get: n.Get}
	if ready {
		var vms []*vm.VM
		if asJSON {
			vms, _ = n.List()
		}
		p.ready(time.Now(), uuid.NewString(), vms)
	}
	r := bufio.NewReader(f)
	var partial string
	for {
		line, err := r.ReadString('\n')
		if err == io.EOF {
			partial += line
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if err != nil {
			return err
		}
		line, partial = partial+line, ""
		var e node.Event
		if json.Unmarshal([]byte(line), &e) != nil {
			continue
		}
		if filter != "" && e.UUID != filter {
			continue
		}
		p.event(e)
	}
}

// eventPrinter writes events as vmadm events does.
type eventPrinter struct {
	w          io.Writer
	full, json bool
	// vms holds the last object seen of each VM, for the vm of a delete
	// event; get reads a VM's current object (nil: none).
	vms map[string]*vm.VM
	get func(uuid string) (*vm.VM, error)
}

// ready writes the event that says the stream is ready (-r).
func (p *eventPrinter) ready(t time.Time, stream string, vms []*vm.VM) {
	switch {
	case p.json:
		all := make(map[string]*vm.VM, len(vms))
		for _, v := range vms {
			all[v.Zonename] = v
		}
		b, _ := json.Marshal(struct {
			Type string            `json:"type"`
			Date string            `json:"date"`
			UUID string            `json:"uuid"`
			VMs  map[string]*vm.VM `json:"vms"`
		}{"ready", eventDate(t), stream, all})
		fmt.Fprintln(p.w, string(b))
	case p.full:
		fmt.Fprintf(p.w, "[%s] ready (uuid %s)\n", eventDate(t), stream)
	default:
		fmt.Fprintf(p.w, "[%s] ready\n", eventTime(t))
	}
}

// event writes one event: with -j vminfod's object (type, date,
// zonename, uuid, vm, changes), else a line `[HH:MM:SS.mmmZ] <uuid
// prefix> <alias> <type>`, one per change of a modify event (`…: <path>
// <action> :: <old> -> <new>`).
func (p *eventPrinter) event(e node.Event) {
	t, _ := time.Parse(time.RFC3339Nano, e.Date)
	v := p.vms[e.UUID]
	if e.Type != "delete" && p.get != nil {
		if cur, err := p.get(e.UUID); err == nil {
			v = cur
			p.vms[e.UUID] = v
		}
	}
	if e.Type == "delete" {
		delete(p.vms, e.UUID)
	}
	if p.json {
		b, _ := json.Marshal(struct {
			Type     string        `json:"type"`
			Date     string        `json:"date"`
			Zonename string        `json:"zonename"`
			UUID     string        `json:"uuid"`
			VM       *vm.VM        `json:"vm,omitempty"`
			Changes  []node.Change `json:"changes,omitempty"`
		}{e.Type, eventDate(t), e.Zonename, e.UUID, v, e.Changes})
		fmt.Fprintln(p.w, string(b))
		return
	}
	stamp, zn := eventTime(t), e.Zonename
	if zn == "" {
		zn = e.UUID
	}
	if p.full {
		stamp = eventDate(t)
	} else {
		zn, _, _ = strings.Cut(zn, "-")
	}
	alias := e.Alias
	if v != nil {
		alias = v.Alias
	}
	if alias == "" {
		alias = "-"
	}
	if len(alias) > 30 {
		alias = alias[:27] + "..."
	}
	head := fmt.Sprintf("[%s] %s %s %s", stamp, zn, alias, e.Type)
	if len(e.Changes) == 0 {
		fmt.Fprintln(p.w, head)
		return
	}
	for _, ch := range e.Changes {
		fmt.Fprintf(p.w, "%s: %s %s :: %s -> %s\n", head, ch.Path, ch.Action, jsValue(ch.Old), jsValue(ch.New))
	}
}

// eventDate and eventTime are the dates vmadm events prints: ISO 8601
// with milliseconds, or (without -f) its time part.
func eventDate(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
func eventTime(t time.Time) string { return t.UTC().Format("15:04:05.000Z") }

// jsValue formats a value as util.format's %j does: JSON, or undefined
// when there is none.
func jsValue(x any) string {
	if x == nil {
		return "undefined"
	}
	b, err := json.Marshal(x)
	if err != nil {
		return "undefined"
	}
	return string(b)
}
