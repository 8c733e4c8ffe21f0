package netadm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"hull/internal/network/managed"
)

// Network is `hull network create|list|get|delete|up`.
func Network(e Env, args []string) int {
	usage := func() int {
		fmt.Fprint(e.Stderr, `Usage: hull network <command> [args]
    create -f <file.json> | create key=value ...
           keys: name nic_tag vlan_id subnet gateway provision_start_ip
                 provision_end_ip resolvers (comma list) mtu internet_nat description
    list [-j]
    get <uuid|name>
    delete <uuid|name>
    up [<uuid|name>]     (re)make the host side: bridge, gateway address, NAT
`)
		return 2
	}
	if len(args) == 0 {
		return usage()
	}
	fail := func(err error) int {
		fmt.Fprintf(e.Stderr, "hull network %s: %v\n", args[0], err)
		return 1
	}
	s, err := managed.ForNode(e.Root)
	if err != nil {
		return fail(err)
	}
	rest := args[1:]
	switch args[0] {
	case "create":
		n, err := parseNetwork(rest)
		if err != nil {
			fmt.Fprintf(e.Stderr, "hull network create: %v\n", err)
			return 2
		}
		n, err = s.Create(n)
		if err != nil {
			return fail(err)
		}
		if err := managed.Up(n, n.Bridge()); err != nil {
			s.Delete(n.UUID)
			return fail(err)
		}
		e.Stdout.Write(append(n.MarshalIndent(), '\n'))
		return 0
	case "list":
		if len(rest) > 1 || (len(rest) == 1 && rest[0] != "-j") {
			return usage()
		}
		all, err := s.List()
		if err != nil {
			return fail(err)
		}
		if len(rest) == 1 {
			b, _ := json.MarshalIndent(all, "", "  ")
			e.Stdout.Write(append(b, '\n'))
			return 0
		}
		fmt.Fprintf(e.Stdout, "%-36s  %-12s  %-10s  %-4s  %-18s  %-15s  %s\n", "UUID", "NAME", "NIC_TAG", "VLAN", "SUBNET", "GATEWAY", "NAT")
		for _, n := range all {
			gw := n.Gateway
			if gw == "" {
				gw = "-"
			}
			nat := "no"
			if n.InternetNAT {
				nat = "yes"
			}
			fmt.Fprintf(e.Stdout, "%-36s  %-12s  %-10s  %-4d  %-18s  %-15s  %s\n", n.UUID, n.Name, n.NicTag, n.VlanID, n.Subnet, gw, nat)
		}
		return 0
	case "get":
		if len(rest) != 1 {
			return usage()
		}
		n, err := s.Get(rest[0])
		if err != nil {
			return fail(err)
		}
		e.Stdout.Write(append(n.MarshalIndent(), '\n'))
		return 0
	case "delete":
		if len(rest) != 1 {
			return usage()
		}
		if e.VMs != nil {
			// Assignments whose VM is gone (a crashed create) do not
			// keep the network in use.
			vms, err := e.VMs()
			if err != nil {
				return fail(err)
			}
			var macs []string
			for _, v := range vms {
				for _, nic := range v.Nics {
					macs = append(macs, nic.MAC)
				}
			}
			if err := s.Prune(macs); err != nil {
				return fail(err)
			}
		}
		n, err := s.Delete(rest[0])
		if err != nil {
			return fail(err)
		}
		if err := managed.Down(n, n.Bridge()); err != nil {
			return fail(err)
		}
		fmt.Fprintf(e.Stderr, "Deleted network %s\n", n.UUID)
		return 0
	case "up":
		if len(rest) > 1 {
			return usage()
		}
		if err := Up(s, rest...); err != nil {
			return fail(err)
		}
		return 0
	}
	return usage()
}

// Up makes the host side of the named networks (all when none named)
// exist: what hulld does at start, after a node reboot.
func Up(s *managed.Store, keys ...string) error {
	all, err := s.List()
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range all {
		if len(keys) > 0 && n.UUID != keys[0] && n.Name != keys[0] {
			continue
		}
		if err := managed.Up(n, n.Bridge()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// parseNetwork reads `create`'s arguments: -f file (or - for stdin), or
// key=value pairs.
func parseNetwork(args []string) (managed.Network, error) {
	var n managed.Network
	if len(args) == 2 && args[0] == "-f" {
		var b []byte
		var err error
		if args[1] == "-" {
			b, err = io.ReadAll(os.Stdin)
		} else {
			b, err = os.ReadFile(args[1])
		}
		if err != nil {
			return n, err
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&n); err != nil {
			return n, fmt.Errorf("invalid JSON payload: %v", err)
		}
		return n, nil
	}
	if len(args) == 0 {
		return n, errors.New("nothing to create: give -f <file> or key=value pairs")
	}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return n, fmt.Errorf("expected key=value, got %q", a)
		}
		var err error
		switch k {
		case "uuid":
			n.UUID = v
		case "name":
			n.Name = v
		case "nic_tag":
			n.NicTag = v
		case "vlan_id":
			n.VlanID, err = strconv.Atoi(v)
		case "subnet":
			n.Subnet = v
		case "gateway":
			n.Gateway = v
		case "provision_start_ip":
			n.Start = v
		case "provision_end_ip":
			n.End = v
		case "resolvers":
			for _, r := range strings.Split(v, ",") {
				if r != "" {
					n.Resolvers = append(n.Resolvers, r)
				}
			}
		case "mtu":
			n.MTU, err = strconv.Atoi(v)
		case "internet_nat", "nat":
			n.InternetNAT, err = strconv.ParseBool(v)
		case "description":
			n.Description = v
		default:
			return n, fmt.Errorf("unknown key %q", k)
		}
		if err != nil {
			return n, fmt.Errorf("%s: invalid value %q", k, v)
		}
	}
	return n, nil
}
