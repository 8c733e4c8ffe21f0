// Package zoneadm is illumos's zoneadm over the node's VMs: list, and
// boot, halt, shutdown and reboot of one zone. Unlike vmadm start and
// stop, these leave the VM's autoboot as it is, as on SmartOS.
package zoneadm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"hull/internal/node"
	"hull/internal/vm"
)

// Env is what zoneadm runs against.
type Env struct {
	Stdout, Stderr io.Writer
	// View opens the node for reading (list).
	View func() (*node.Node, error)
	// Open opens the node to act on it when no hulld runs.
	Open func() (*node.Node, error)
	// Daemon returns the node's running hulld, or nil: actions then go
	// through it, as vmadm's do.
	Daemon func() Daemon
}

// Daemon is the part of hulld's client zoneadm uses.
type Daemon interface {
	Action(uuid, action string, force bool, timeout time.Duration, body []byte) (*vm.VM, error)
}

// Exit statuses, as illumos's zoneadm's.
const (
	exitOK    = 0
	exitErr   = 1
	exitUsage = 2
)

const usage = `usage:	zoneadm help
	zoneadm [-z <zone>] [-u <uuid-match>] list
	zoneadm {-z <zone>|-u <uuid-match>} <subcommand>

Subcommands:

	boot
	halt
	shutdown [-r]
	reboot
	list [-cinpv]
`

type cli struct {
	env  Env
	zone string // -z or -u, as given
}

// Main runs zoneadm with args (without the program name).
func Main(args []string, env Env) int {
	c := &cli{env: env}
	byUUID := false
	for len(args) > 0 {
		switch {
		case (args[0] == "-z" || args[0] == "-u") && len(args) > 1:
			c.zone, byUUID = args[1], args[0] == "-u"
			args = args[2:]
			continue
		case args[0] == "-R":
			fmt.Fprintln(env.Stderr, "zoneadm: -R (an alternate root) is not supported")
			return exitUsage
		}
		break
	}
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return exitUsage
	}
	sub, args := args[0], args[1:]
	if byUUID && !node.ValidUUID(c.zone) {
		fmt.Fprintf(env.Stderr, "zoneadm: could not find zone with uuid %s\n", c.zone)
		return exitErr
	}
	switch sub {
	case "help", "-h", "--help", "-?":
		fmt.Fprint(env.Stdout, usage)
		return exitOK
	case "list":
		return c.list(args)
	case "boot", "halt", "reboot", "shutdown":
		return c.act(sub, args)
	}
	fmt.Fprintf(env.Stderr, "zoneadm: unknown subcommand %q\n%s", sub, usage)
	return exitUsage
}

// errorf prints illumos's "zoneadm: zone 'NAME': MESSAGE".
func (c *cli) errorf(format string, args ...any) int {
	fmt.Fprintf(c.env.Stderr, "zoneadm: zone '%s': %s\n", c.zone, fmt.Sprintf(format, args...))
	return exitErr
}

// act boots, halts, shuts down or reboots the zone -z or -u names.
func (c *cli) act(sub string, args []string) int {
	restart := false
	for _, a := range args {
		if sub == "shutdown" && a == "-r" {
			restart = true
			continue
		}
		fmt.Fprintf(c.env.Stderr, "usage:\tzoneadm -z <zone> %s\n", shortUsage[sub])
		return exitUsage
	}
	if c.zone == "" {
		fmt.Fprintln(c.env.Stderr, "zoneadm: no zone specified")
		return exitErr
	}
	if c.zone == "global" {
		return c.errorf("%s operation is invalid for the global zone.", sub)
	}
	view, err := c.env.View()
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "zoneadm: %v\n", err)
		return exitErr
	}
	v, err := zoneOf(view, c.zone)
	if err != nil {
		fmt.Fprintln(c.env.Stderr, err)
		return exitErr
	}
	running := v.State == "running"
	switch {
	case sub == "boot" && running:
		return c.errorf("zone is already booted")
	case (sub == "reboot" || sub == "shutdown") && !running:
		return c.errorf("not running")
	case sub == "halt" && !running:
		return exitOK // already halted: nothing to do
	}
	// shutdown -r is a graceful reboot, reboot a forced one, as illumos's.
	action, force := map[string]string{"boot": "boot", "halt": "halt", "shutdown": "halt", "reboot": "reboot"}[sub], sub == "halt" || sub == "reboot"
	if sub == "shutdown" && restart {
		action = "reboot"
	}
	if err := c.do(v.UUID, action, force); err != nil {
		if errors.Is(err, node.ErrAlreadyRunning) {
			return c.errorf("zone is already booted")
		}
		if errors.Is(err, node.ErrNotRunning) {
			return c.errorf("not running")
		}
		return c.errorf("%s failed: %v", sub, err)
	}
	return exitOK
}

var shortUsage = map[string]string{"boot": "boot", "halt": "halt", "reboot": "reboot", "shutdown": "shutdown [-r]"}

// do carries out a node action, through hulld when one runs.
func (c *cli) do(uuid, action string, force bool) error {
	if c.env.Daemon != nil {
		if d := c.env.Daemon(); d != nil {
			_, err := d.Action(uuid, action, force, 0, nil)
			return err
		}
	}
	n, err := c.env.Open()
	if err != nil {
		return err
	}
	ctx := context.Background()
	switch action {
	case "boot":
		return n.Boot(ctx, uuid)
	case "halt":
		return n.Halt(ctx, uuid, force)
	}
	return n.Reboot(ctx, uuid, force)
}

// zoneOf finds a zone by its name or uuid.
func zoneOf(n *node.Node, ref string) (*vm.VM, error) {
	vms, err := n.List()
	if err != nil {
		return nil, err
	}
	for _, v := range vms {
		if named(v, ref) {
			return v, nil
		}
	}
	return nil, node.NoSuchZone(ref)
}

// named tells whether ref is v's zonename or uuid (-z or -u).
func named(v *vm.VM, ref string) bool { return ref == v.UUID || ref == zonename(v) }

func zonename(v *vm.VM) string {
	if v.Zonename != "" {
		return v.Zonename
	}
	return v.UUID
}

// entry is one line of zoneadm list.
type entry struct {
	id, name, state, path, uuid, brand, ip string
}

// list is zoneadm list [-cinpv]: running zones (the global zone first),
// or with -i or -c every zone; one zone's line with -z or -u.
func (c *cli) list(args []string) int {
	var all, noGlobal, parsable, verbose bool
	for _, a := range args {
		if len(a) < 2 || a[0] != '-' {
			fmt.Fprint(c.env.Stderr, "usage:\tzoneadm list [-cinpv]\n")
			return exitUsage
		}
		for _, f := range a[1:] {
			switch f {
			case 'c', 'i':
				all = true
			case 'n':
				noGlobal = true
			case 'p':
				parsable = true
			case 'v':
				verbose = true
			default:
				fmt.Fprint(c.env.Stderr, "usage:\tzoneadm list [-cinpv]\n")
				return exitUsage
			}
		}
	}
	if parsable && verbose {
		fmt.Fprintln(c.env.Stderr, "zoneadm: list -p and -v are mutually exclusive.")
		return exitErr
	}
	if c.zone != "" && all {
		fmt.Fprint(c.env.Stderr, "usage:\tzoneadm -z <zone> list [-pv]\n")
		return exitUsage
	}
	n, err := c.env.View()
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "zoneadm: %v\n", err)
		return exitErr
	}
	vms, err := n.List()
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "zoneadm: %v\n", err)
		return exitErr
	}
	entries := listEntries(vms, c.zone, all, noGlobal)
	if c.zone != "" && len(entries) == 0 {
		fmt.Fprintln(c.env.Stderr, node.NoSuchZone(c.zone))
		return exitErr
	}
	fmt.Fprint(c.env.Stdout, render(entries, parsable, verbose))
	return exitOK
}

// listEntries picks and orders the lines of a listing: the global zone,
// then running zones by id, then the others by name.
func listEntries(vms []*vm.VM, zone string, all, noGlobal bool) []entry {
	var running, others []entry
	for _, v := range vms {
		if zone != "" && !named(v, zone) {
			continue
		}
		name := zonename(v)
		e := entry{id: "-", name: name, state: v.ZoneState, path: v.Zonepath, uuid: v.UUID, brand: v.Brand, ip: "excl"}
		if e.state == "" {
			e.state = "installed"
		}
		if v.State == "running" || v.State == "shutting_down" {
			e.id = strconv.Itoa(v.PID)
			running = append(running, e)
		} else if all || zone != "" {
			others = append(others, e)
		}
	}
	sort.Slice(running, func(i, j int) bool {
		a, _ := strconv.Atoi(running[i].id)
		b, _ := strconv.Atoi(running[j].id)
		return a < b
	})
	sort.Slice(others, func(i, j int) bool { return others[i].name < others[j].name })
	var out []entry
	if !noGlobal && (zone == "" || zone == "global") {
		out = append(out, entry{id: "0", name: "global", state: "running", path: "/", brand: "linux", ip: "shared"})
	}
	return append(append(out, running...), others...)
}

// render formats the lines: names only, -p's colon-separated fields
// (zoneid:zonename:state:zonepath:uuid:brand:ip-type, a ':' in the path
// escaped), or -v's table.
func render(es []entry, parsable, verbose bool) string {
	var b strings.Builder
	if verbose {
		fmt.Fprintf(&b, "%*s %-16s %-10s %-30s %-8s %-6s\n", 4, "ID", "NAME", "STATUS", "PATH", "BRAND", "IP")
	}
	for _, e := range es {
		switch {
		case verbose:
			fmt.Fprintf(&b, "%*s %-16s %-10s %-30s %-8s %-6s\n", 4, e.id, e.name, e.state, e.path, e.brand, e.ip)
		case parsable:
			fmt.Fprintf(&b, "%s:%s:%s:%s:%s:%s:%s\n", e.id, e.name, e.state, strings.ReplaceAll(e.path, ":", `\:`), e.uuid, e.brand, e.ip)
		default:
			fmt.Fprintln(&b, e.name)
		}
	}
	return b.String()
}
