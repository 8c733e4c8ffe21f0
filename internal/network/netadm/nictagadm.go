package netadm

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"hull/internal/config"
	"hull/internal/network"
	"hull/internal/network/dump"
	"hull/internal/vm"
)

// Env is what the commands work on: the node root, its VMs (for tags in
// use and VNICs) and where output goes.
type Env struct {
	Root           string
	VMs            func() ([]*vm.VM, error)
	Stdout, Stderr io.Writer
}

// Tag names are letters, digits and underscores; an etherstub's, a link
// name, ends in a digit (as nictagadm's valid_stub_name has it).
var (
	tagNameRE  = regexp.MustCompile(`^[a-zA-Z0-9_]{1,31}$`)
	stubNameRE = regexp.MustCompile(`^[a-zA-Z0-9_]{0,30}[0-9]$`)
)

// listLine is nictagadm's list format.
const listLine = "%-14s %-18s %-14s %-16s\n"

// tag is one row of nictagadm list.
type tag struct{ name, mac, link, typ string }

func (e Env) tags() ([]tag, error) {
	c, err := config.Load(e.Root)
	if err != nil {
		return nil, err
	}
	var out []tag
	for _, k := range c.WithSuffix("_nic") {
		mac := strings.ToLower(c.Value(k, ""))
		if m, ok := network.NormalMAC(mac); ok {
			mac = m
		}
		out = append(out, tag{strings.TrimSuffix(k, "_nic"), mac, linkByMAC(mac), "normal"})
	}
	// The config's etherstubs and the default network's, which NICs name
	// as their nic tag all the same.
	stubs, err := e.etherstubNames()
	if err != nil {
		return nil, err
	}
	for _, s := range stubs {
		out = append(out, tag{s, "-", "-", "etherstub"})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// linkByMAC is the physical link with a MAC ("-" when none).
func linkByMAC(mac string) string {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return "-"
	}
	links, _ := dump.Consistent(netlink.LinkList)
	for _, l := range links {
		if l.Attrs().HardwareAddr.String() == hw.String() && l.Type() == "device" {
			return l.Attrs().Name
		}
	}
	return "-"
}

// Nictagadm is the nictagadm command.
func Nictagadm(e Env, args []string) int {
	usage := func() int {
		fmt.Fprint(e.Stderr, `Usage: nictagadm <subcommand> [options]
    nictagadm add [-l] [-p prop=value,...] <name> [mac]
    nictagadm delete [-f] <name>
    nictagadm exists [-l] <name> [name ...]
    nictagadm list [-l | -L] [-p] [-d delim]
    nictagadm vms <name>
`)
		return 2
	}
	if len(args) == 0 {
		return usage()
	}
	fail := func(f string, a ...any) int {
		fmt.Fprintf(e.Stderr, "Error: "+f+"\n", a...)
		return 1
	}
	fs := flag.NewFlagSet("nictagadm "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	stubOnly := fs.Bool("l", false, "etherstubs only (list), names only (exists)")
	noStub := fs.Bool("L", false, "no etherstubs")
	parse := fs.Bool("p", false, "parseable")
	delim := fs.String("d", ":", "delimiter")
	force := fs.Bool("f", false, "force")
	var props string
	if args[0] == "add" || args[0] == "update" {
		fs = flag.NewFlagSet("nictagadm add", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		stubOnly = fs.Bool("l", false, "etherstub")
		fs.StringVar(&props, "p", "", "properties")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return usage()
	}
	rest := fs.Args()
	switch args[0] {
	case "list":
		if len(rest) != 0 || (*stubOnly && *noStub) {
			return usage()
		}
		tags, err := e.tags()
		if err != nil {
			return fail("%v", err)
		}
		if !*parse {
			fmt.Fprintf(e.Stdout, listLine, "NAME", "MACADDRESS", "LINK", "TYPE")
		}
		for _, t := range tags {
			if (*stubOnly && t.typ != "etherstub") || (*noStub && t.typ == "etherstub") {
				continue
			}
			if *parse {
				mac := t.mac
				if *delim == ":" {
					mac = strings.ReplaceAll(mac, ":", `\:`)
				}
				fmt.Fprintln(e.Stdout, strings.Join([]string{t.name, mac, t.link, t.typ}, *delim))
				continue
			}
			fmt.Fprintf(e.Stdout, listLine, t.name, t.mac, t.link, t.typ)
		}
		return 0
	case "exists":
		if len(rest) == 0 {
			return usage()
		}
		tags, err := e.tags()
		if err != nil {
			return fail("%v", err)
		}
		// Missing tags go to stderr, one a line: "invalid tag: x", or
		// with -l the bare name (what vmadm reads).
		rc := 0
		for _, name := range rest {
			if !slices.ContainsFunc(tags, func(t tag) bool { return t.name == name }) {
				if *stubOnly {
					fmt.Fprintln(e.Stderr, name)
				} else {
					fmt.Fprintf(e.Stderr, "invalid tag: %s\n", name)
				}
				rc = 1
			}
		}
		return rc
	case "vms":
		if len(rest) != 1 {
			return usage()
		}
		users, err := e.tagUsers(rest[0])
		if err != nil {
			return fail("%v", err)
		}
		for _, u := range users {
			fmt.Fprintln(e.Stdout, u)
		}
		return 0
	case "add":
		if len(rest) < 1 || len(rest) > 2 {
			return usage()
		}
		name, mac := rest[0], ""
		if len(rest) == 2 {
			mac = rest[1]
		}
		for _, kv := range strings.Split(props, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok && k == "mac" {
				if mac != "" {
					return fail("mac address specified twice")
				}
				mac = v
			} else if kv != "" && !(ok && k == "mtu") {
				return fail("invalid property: %s", kv)
			}
		}
		switch {
		case mac == "" && !*stubOnly:
			return fail("create non-local tag, but no mac address specified")
		case mac != "" && *stubOnly:
			return fail("create local tag, but mac address specified")
		}
		return e.addTag(name, mac, *stubOnly, fail)
	case "delete":
		if len(rest) != 1 {
			return usage()
		}
		return e.deleteTag(rest[0], *force, fail)
	}
	return usage()
}

func (e Env) addTag(name, mac string, stub bool, fail func(string, ...any) int) int {
	tags, err := e.tags()
	if err != nil {
		return fail("%v", err)
	}
	if slices.ContainsFunc(tags, func(t tag) bool { return t.name == name }) {
		return fail("nic tag '%s' already exists", name)
	}
	if !tagNameRE.MatchString(name) || (stub && !stubNameRE.MatchString(name)) {
		return fail("nic tag name is invalid")
	}
	path := configFile(e.Root)
	if stub {
		c, err := config.Load(e.Root)
		if err != nil {
			return fail("%v", err)
		}
		if err := setKey(path, "etherstub", strings.Join(append(etherstubs(c), name), ",")); err != nil {
			return fail("%v", err)
		}
		if err := ensureStub(name); err != nil {
			return fail("%v", err)
		}
		return 0
	}
	hw, ok := network.NormalMAC(mac)
	if !ok {
		return fail("MAC address '%s' is invalid", mac)
	}
	if err := setKey(path, name+"_nic", hw); err != nil {
		return fail("%v", err)
	}
	return 0
}

func (e Env) deleteTag(name string, force bool, fail func(string, ...any) int) int {
	tags, err := e.tags()
	if err != nil {
		return fail("%v", err)
	}
	i := slices.IndexFunc(tags, func(t tag) bool { return t.name == name })
	if i < 0 {
		return fail("nic tag '%s' does not exist", name)
	}
	users, err := e.tagUsers(name)
	if err != nil {
		return fail("%v", err)
	}
	if len(users) > 0 && !force {
		return fail("nic tag '%s' is in use", name)
	}
	path := configFile(e.Root)
	if tags[i].typ != "etherstub" {
		if err := setKey(path, name+"_nic", ""); err != nil {
			return fail("%v", err)
		}
		return 0
	}
	c, err := config.Load(e.Root)
	if err != nil {
		return fail("%v", err)
	}
	left := slices.DeleteFunc(etherstubs(c), func(s string) bool { return s == name })
	if err := setKey(path, "etherstub", strings.Join(left, ",")); err != nil {
		return fail("%v", err)
	}
	if len(users) == 0 {
		if err := deleteStub(name); err != nil {
			return fail("%v", err)
		}
	}
	return 0
}

// tagUsers lists the VMs with a NIC on the tag.
func (e Env) tagUsers(name string) ([]string, error) {
	if e.VMs == nil {
		return nil, nil
	}
	vms, err := e.VMs()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range vms {
		if slices.ContainsFunc(v.Nics, func(n vm.NIC) bool { return n.NicTag == name }) {
			out = append(out, v.UUID)
		}
	}
	sort.Strings(out)
	return out, nil
}

// ensureStub makes an etherstub's bridge (up, no uplink).
func ensureStub(name string) error {
	br := network.BridgeName(name)
	if l, err := netlink.LinkByName(br); err == nil {
		if l.Type() != "bridge" {
			return fmt.Errorf("link %s exists and is not a bridge", br)
		}
		return netlink.LinkSetUp(l)
	}
	if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: br}}); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("create etherstub %s: %w", name, err)
	}
	l, err := netlink.LinkByName(br)
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(l)
}

// deleteStub removes an etherstub's bridge unless ports remain on it.
func deleteStub(name string) error {
	l, err := netlink.LinkByName(network.BridgeName(name))
	if err != nil || l.Type() != "bridge" {
		return nil
	}
	if ports := bridgePorts(l); len(ports) > 0 {
		return fmt.Errorf("etherstub %s is busy: %s", name, strings.Join(ports, ", "))
	}
	return netlink.LinkDel(l)
}

func bridgePorts(br netlink.Link) []string {
	links, _ := dump.Consistent(netlink.LinkList)
	var out []string
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			out = append(out, l.Attrs().Name)
		}
	}
	return out
}

// readSys reads a /sys/class/net attribute ("" when unreadable).
func readSys(link, attr string) string {
	b, err := os.ReadFile("/sys/class/net/" + link + "/" + attr)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
