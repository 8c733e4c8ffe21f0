package netadm

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"

	"hull/internal/config"
	"hull/internal/network"
	"hull/internal/network/bw"
	"hull/internal/network/dump"
	"hull/internal/network/managed"
)

// linkNameRE is dladm's rule for link names: a letter first, a digit
// last, at most 31 characters (15 here: Linux's limit).
var linkNameRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_.]{0,13}[0-9]$`)

// column is a field of a dladm listing with its display width.
type column struct {
	name  string
	width int
}

// printTable prints rows as dladm does: padded columns under an upper
// case header, or with -p the fields chosen by -o, ':'-separated, with
// ':' and '\' escaped when there is more than one field.
func printTable(w io.Writer, cols []column, rows []map[string]string, parse bool, fields string) error {
	sel := cols
	if fields != "" {
		sel = nil
		for _, f := range strings.Split(strings.ToLower(fields), ",") {
			i := slices.IndexFunc(cols, func(c column) bool { return c.name == f })
			if i < 0 {
				return fmt.Errorf("invalid field(s) specified")
			}
			sel = append(sel, cols[i])
		}
	} else if parse {
		return fmt.Errorf("-p requires -o")
	}
	line := func(vals []string) {
		if parse {
			if len(vals) > 1 {
				for i, v := range vals {
					vals[i] = strings.NewReplacer(`\`, `\\`, ":", `\:`).Replace(v)
				}
			}
			fmt.Fprintln(w, strings.Join(vals, ":"))
			return
		}
		var b strings.Builder
		for i, v := range vals {
			if i == len(vals)-1 {
				b.WriteString(v)
			} else {
				fmt.Fprintf(&b, "%-*s ", sel[i].width, v)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	if !parse {
		var h []string
		for _, c := range sel {
			h = append(h, strings.ToUpper(c.name))
		}
		line(h)
	}
	for _, r := range rows {
		var vals []string
		for _, c := range sel {
			vals = append(vals, r[c.name])
		}
		line(vals)
	}
	return nil
}

// Dladm is the dladm command (the subset a hull node has).
func Dladm(e Env, args []string) int {
	usage := func() int {
		fmt.Fprint(e.Stderr, `usage:  dladm <subcommand> <args> ...
    show-phys         [-p] [-o <field>,..] [<link>]
    show-vnic         [-p] [-o <field>,..] [-z <zone>] [<link>]
    show-etherstub    [<link>]
    create-etherstub  [-t] <link>
    delete-etherstub  [-t] <link>
`)
		return 2
	}
	if len(args) == 0 {
		return usage()
	}
	fail := func(f string, a ...any) int {
		fmt.Fprintf(e.Stderr, "dladm: "+f+"\n", a...)
		return 1
	}
	fs := flag.NewFlagSet("dladm", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	parse := fs.Bool("p", false, "parseable")
	fields := fs.String("o", "", "fields")
	zone := fs.String("z", "", "zone")
	temp := fs.Bool("t", false, "temporary")
	if err := fs.Parse(args[1:]); err != nil {
		return usage()
	}
	rest := fs.Args()
	if len(rest) > 1 {
		return usage()
	}
	one := ""
	if len(rest) == 1 {
		one = rest[0]
	}
	switch args[0] {
	case "show-phys":
		rows := physRows(one)
		if one != "" && len(rows) == 0 {
			return fail("invalid link name '%s'", one)
		}
		cols := []column{{"link", 12}, {"media", 20}, {"state", 10}, {"speed", 6}, {"duplex", 9}, {"device", 0}}
		if err := printTable(e.Stdout, cols, rows, *parse, *fields); err != nil {
			return fail("%v", err)
		}
		return 0
	case "show-vnic":
		rows, err := e.vnicRows(*zone, one)
		if err != nil {
			return fail("%v", err)
		}
		if one != "" && len(rows) == 0 {
			return fail("invalid vnic name '%s': object not found", one)
		}
		cols := []column{{"link", 12}, {"over", 10}, {"speed", 6}, {"macaddress", 17}, {"macaddrtype", 11}, {"vid", 4}, {"zone", 0}}
		if err := printTable(e.Stdout, cols, rows, *parse, *fields); err != nil {
			return fail("%v", err)
		}
		return 0
	case "show-etherstub":
		stubs, err := e.etherstubNames()
		if err != nil {
			return fail("%v", err)
		}
		var rows []map[string]string
		for _, s := range stubs {
			if one == "" || s == one {
				rows = append(rows, map[string]string{"link": s})
			}
		}
		if one != "" && len(rows) == 0 {
			return fail("invalid link name '%s'", one)
		}
		if err := printTable(e.Stdout, []column{{"link", 0}}, rows, *parse, *fields); err != nil {
			return fail("%v", err)
		}
		return 0
	case "create-etherstub":
		if one == "" {
			return usage()
		}
		if !linkNameRE.MatchString(one) {
			return fail("etherstub creation failed: invalid link name '%s'", one)
		}
		if _, err := netlink.LinkByName(network.BridgeName(one)); err == nil {
			return fail("etherstub creation failed: object already exists")
		}
		if !*temp {
			c, err := config.Load(e.Root)
			if err != nil {
				return fail("%v", err)
			}
			if err := setKey(configFile(e.Root), "etherstub", strings.Join(append(etherstubs(c), one), ",")); err != nil {
				return fail("etherstub creation failed: %v", err)
			}
		}
		if err := ensureStub(one); err != nil {
			return fail("etherstub creation failed: %v", err)
		}
		return 0
	case "delete-etherstub":
		if one == "" {
			return usage()
		}
		l, err := netlink.LinkByName(network.BridgeName(one))
		if err != nil || l.Type() != "bridge" {
			return fail("etherstub deletion failed: object not found")
		}
		if len(bridgePorts(l)) > 0 {
			return fail("etherstub deletion failed: link busy")
		}
		if err := netlink.LinkDel(l); err != nil {
			return fail("etherstub deletion failed: %v", err)
		}
		if !*temp {
			c, err := config.Load(e.Root)
			if err != nil {
				return fail("%v", err)
			}
			left := slices.DeleteFunc(etherstubs(c), func(s string) bool { return s == one })
			if err := setKey(configFile(e.Root), "etherstub", strings.Join(left, ",")); err != nil {
				return fail("%v", err)
			}
		}
		return 0
	}
	return usage()
}

// physRows lists the host's physical links (those backed by a device).
func physRows(only string) []map[string]string {
	links, _ := dump.Consistent(netlink.LinkList)
	var rows []map[string]string
	for _, l := range links {
		name := l.Attrs().Name
		if l.Type() != "device" || (only != "" && name != only) {
			continue
		}
		if _, err := os.Stat("/sys/class/net/" + name + "/device"); err != nil {
			continue
		}
		speed := readSys(name, "speed")
		if n, err := strconv.Atoi(speed); err != nil || n < 0 {
			speed = "0"
		}
		duplex := readSys(name, "duplex")
		if duplex == "" {
			duplex = "unknown"
		}
		state := l.Attrs().OperState.String()
		if state != "up" && state != "down" {
			state = "unknown"
		}
		rows = append(rows, map[string]string{"link": name, "media": "Ethernet", "state": state, "speed": speed, "duplex": duplex, "device": name})
	}
	return rows
}

// smartosMAC prints a MAC without leading zeros, as dladm does.
func smartosMAC(hw net.HardwareAddr) string {
	var parts []string
	for _, b := range hw {
		parts = append(parts, strconv.FormatUint(uint64(b), 16))
	}
	return strings.Join(parts, ":")
}

// vnicRows lists the VNICs of running zones (VNICs exist only while their
// zone runs). SPEED is the maxbw cap in Mbps when one is set.
func (e Env) vnicRows(zone, only string) ([]map[string]string, error) {
	if e.VMs == nil {
		return nil, nil
	}
	vms, err := e.VMs()
	if err != nil {
		return nil, err
	}
	sort.Slice(vms, func(i, j int) bool { return vms[i].UUID < vms[j].UUID })
	var rows []map[string]string
	for _, v := range vms {
		if zone != "" && v.UUID != zone && v.Zonename != zone && v.Alias != zone {
			continue
		}
		vnics, err := network.Plan(v)
		if err != nil {
			continue
		}
		for _, x := range vnics {
			if only != "" && x.Zone != only {
				continue
			}
			if _, err := netlink.LinkByName(x.Host); err != nil {
				continue
			}
			speed := readSys(x.Host, "speed")
			if cap, _ := bw.Current(x.Host); cap > 0 {
				speed = strconv.FormatUint(cap/1e6, 10)
			}
			rows = append(rows, map[string]string{
				"link": x.Zone, "over": network.BridgeName(x.Tag), "speed": speed, "macaddress": smartosMAC(x.MAC),
				"macaddrtype": "fixed", "vid": strconv.Itoa(x.VLAN), "zone": v.UUID,
			})
		}
	}
	return rows, nil
}

// etherstubNames are the config's etherstubs and the default network's,
// which every node has (its bridge is made when a NIC first uses it).
func (e Env) etherstubNames() ([]string, error) {
	c, err := config.Load(e.Root)
	if err != nil {
		return nil, err
	}
	out := etherstubs(c)
	if !slices.Contains(out, managed.DefaultStub) {
		out = append(out, managed.DefaultStub)
	}
	sort.Strings(out)
	return out, nil
}
