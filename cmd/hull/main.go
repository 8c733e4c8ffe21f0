// Command hull is the one hull binary. The name it is run as (vmadm,
// zlogin, imgadm, hulld, …) or its first argument picks the personality.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/term"

	"hull/internal/bench"
	"hull/internal/hulld"
	"hull/internal/image"
	"hull/internal/imgadm"
	"hull/internal/node"
	"hull/internal/vmadm"
	"hull/internal/zlogin"
	"hull/internal/zone"
	"hull/internal/zoneinit"
)

// personalities maps a command name to its entry point.
var personalities = map[string]func(args []string) int{
	"vmadm":  runVmadm,
	"zlogin": runZlogin,
	"imgadm": runImgadm,
	"hulld":  func(args []string) int { return hulld.Main(args, openNode, os.Stderr) },
	// In-zone helpers: PID 1 of OS zones, and a live remount run by the
	// host inside a zone.
	"zoneinit": zoneinit.Main,
	"zone-remount": func(args []string) int {
		if len(args) != 2 {
			fmt.Fprintln(os.Stderr, "usage: zone-remount <target> <options>")
			return 2
		}
		if err := zone.Remount(args[0], args[1]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	},
	"install": install,
	"bench":   func(args []string) int { return bench.Main(args, os.Stdout, os.Stderr) },
}

// userCommands are the personalities installed as symlinks on PATH.
var userCommands = []string{"vmadm", "zlogin", "imgadm", "hulld"}

// register adds a personality from another file of this package (one
// file per feature keeps main.go from growing with each command); user
// ones are also installed as symlinks on PATH.
func register(name string, run func(args []string) int, user bool) {
	if _, dup := personalities[name]; dup {
		panic("hull: personality registered twice: " + name)
	}
	personalities[name] = run
	if user {
		userCommands = append(userCommands, name)
	}
}

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	run, ok := personalities[name]
	if !ok {
		if len(args) == 0 {
			usage()
			os.Exit(2)
		}
		name, args = args[0], args[1:]
		if name == "-h" || name == "--help" || name == "help" {
			usage()
			os.Exit(0)
		}
		if run, ok = personalities[name]; !ok {
			fmt.Fprintf(os.Stderr, "hull: unknown command %q\n", name)
			usage()
			os.Exit(2)
		}
	}
	os.Exit(run(args))
}

func usage() {
	names := make([]string, 0, len(userCommands))
	names = append(names, userCommands...)
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "Usage: hull <command> [args]\n\nCommands: %s, install, bench\n\nRun as a symlink named after a command (hull install makes them), hull behaves as that command.\n", strings.Join(names, ", "))
}

func openNode() (*node.Node, error) { return node.Open(node.RootFromEnv()) }

func runVmadm(args []string) int {
	return vmadm.Main(args, vmadm.Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Open:       openNode,
		View:       func() (*node.Node, error) { return node.OpenView(node.RootFromEnv()) },
		Daemon:     daemon,
		StdinIsTTY: term.IsTerminal(int(os.Stdin.Fd())),
	})
}

func runZlogin(args []string) int {
	return zlogin.Main(args, zlogin.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Open: openNode})
}

func runImgadm(args []string) int {
	// One node handle for the store and for `imgadm create`'s VM.
	var n *node.Node
	open := func() (*node.Node, error) {
		if n != nil {
			return n, nil
		}
		var err error
		n, err = openNode()
		return n, err
	}
	return imgadm.Main(args, os.Stdout, os.Stderr, imgadm.Env{
		Open: func() (*image.Store, error) {
			n, err := open()
			if err != nil {
				return nil, err
			}
			return n.Images, nil
		},
		VM: func(uuid string) (*imgadm.VMSource, func(), error) {
			n, err := open()
			if err != nil {
				return nil, nil, err
			}
			src, release, err := n.ImageSource(uuid)
			if err != nil {
				return nil, nil, err
			}
			return &imgadm.VMSource{Root: src.Root, Brand: src.Brand, ImageUUID: src.ImageUUID}, release, nil
		},
	})
}

// install puts symlinks for the user commands next to the binary's
// install directory (default /usr/local/bin).
func install(args []string) int {
	dir := "/usr/local/bin"
	if len(args) == 1 {
		dir = args[0]
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, c := range userCommands {
		p := filepath.Join(dir, c)
		os.Remove(p)
		if err := os.Symlink(self, p); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	fmt.Printf("installed %s in %s\n", strings.Join(userCommands, ", "), dir)
	return 0
}

// daemon finds the node's running hulld; HULL_DIRECT=1 makes vmadm act
// on the node itself even when one runs.
func daemon() vmadm.Daemon {
	if os.Getenv("HULL_DIRECT") == "1" {
		return nil
	}
	root, err := filepath.Abs(node.RootFromEnv())
	if err != nil {
		return nil
	}
	if c := hulld.Dial(filepath.Join(root, "run", "hulld.sock")); c != nil {
		return c
	}
	return nil
}
