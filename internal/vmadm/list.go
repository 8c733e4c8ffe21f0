package vmadm

import (
	"fmt"
	"strings"

	"hull/internal/vm"
)

// listFlags parses -p -H -h -o -s and leaves filters.
func listFlags(args []string, allowed string) (opts vm.ListOptions, json1 map[string]bool, filters []string, err error) {
	json1 = map[string]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || len(a) < 2 {
			filters = append(filters, a)
			continue
		}
		flag := a[1:]
		takesArg := flag == "o" || flag == "s"
		if !strings.Contains(allowed, flag) {
			return opts, nil, nil, usageError{fmt.Sprintf("Unknown option: %s", a)}
		}
		if takesArg {
			if i+1 >= len(args) {
				return opts, nil, nil, usageError{fmt.Sprintf("Option %s requires an argument", a)}
			}
			list := strings.Split(args[i+1], ",")
			if flag == "o" {
				opts.Fields = list
			} else {
				opts.Sort = list
			}
			i++
			continue
		}
		switch flag {
		case "p":
			opts.Parsable = true
		case "H":
			opts.NoHeader = true
		case "h":
			opts.NoHeader, opts.ForceHeader = false, true
		default:
			json1[flag] = true
		}
	}
	return opts, json1, filters, nil
}

func (c *cli) list(args []string) error {
	opts, _, filters, err := listFlags(args, "pHhos")
	if err != nil {
		return err
	}
	fs, err := vm.ParseFilters(filters)
	if err != nil {
		return err
	}
	vms, err := c.matching(fs)
	if err != nil {
		return err
	}
	return vm.FormatList(c.env.Stdout, vms, opts)
}

// matching reads the node's VMs and keeps those every filter matches.
func (c *cli) matching(fs []vm.Filter) ([]*vm.VM, error) {
	n, err := c.view()
	if err != nil {
		return nil, err
	}
	all, err := n.List()
	if err != nil {
		return nil, err
	}
	return vm.Lookup(all, fs), nil
}

func (c *cli) lookup(args []string) error {
	opts, flags, filters, err := listFlags(args, "j1o")
	if err != nil {
		return err
	}
	if len(opts.Fields) > 0 && !flags["j"] {
		return usageError{"-o can only be used with -j"}
	}
	fs, err := vm.ParseLookupFilters(filters)
	if err != nil {
		return err
	}
	vms, err := c.matching(fs)
	if err != nil {
		return err
	}
	if flags["1"] {
		if err := vm.UniqueError(len(vms)); err != nil {
			return err
		}
	}
	if !flags["j"] {
		for _, v := range vms {
			fmt.Fprintln(c.env.Stdout, v.UUID)
		}
		return nil
	}
	b, err := vm.LookupJSON(vms, opts.Fields)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.env.Stdout, string(b))
	return nil
}
