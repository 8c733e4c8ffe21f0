package vmadm

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"hull/internal/vm"
)

// listFlags parses list's and lookup's options (-p -H -h -o -s, -j -1;
// single-letter flags may be grouped, as in -pH) and leaves the filters.
func listFlags(args []string, allowed string) (opts vm.ListOptions, flags map[string]bool, filters []string, err error) {
	flags = map[string]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || len(a) < 2 {
			filters = append(filters, a)
			continue
		}
		for j, f := range a[1:] {
			if !strings.ContainsRune(allowed, f) {
				return opts, nil, nil, usageError{fmt.Sprintf("Unknown option: -%c", f)}
			}
			switch f {
			case 'o', 's':
				// The value is the rest of this argument or the next one.
				val := a[2+j:]
				if val == "" {
					if i+1 >= len(args) {
						return opts, nil, nil, usageError{fmt.Sprintf("Option -%c requires an argument", f)}
					}
					i++
					val = args[i]
				}
				if f == 'o' {
					opts.Fields = strings.Split(val, ",")
				} else {
					opts.Sort = strings.Split(val, ",")
				}
				flags[string(f)] = true
			case 'p':
				opts.Parsable = true
			case 'H':
				opts.NoHeader, opts.ForceHeader = true, false
			case 'h':
				opts.NoHeader, opts.ForceHeader = false, true
			default:
				flags[string(f)] = true
			}
			if f == 'o' || f == 's' {
				break
			}
		}
	}
	return opts, flags, filters, nil
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
	// Bad -o and -s fields are refused before any VM is read: formatting
	// no VMs checks them.
	if err := vm.FormatList(io.Discard, nil, opts); err != nil {
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
	all, err := n.ListShown()
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
	if flags["o"] && !flags["j"] {
		return errors.New("Cannot specify -o without -j")
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
