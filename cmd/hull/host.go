//go:build !zone

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"hull/internal/bench"
	"hull/internal/hulld"
	"hull/internal/image"
	"hull/internal/imgadm"
	"hull/internal/node"
	"hull/internal/vmadm"
	"hull/internal/zlogin"
	"hull/internal/zoneadm"
)

// The global zone's commands.
func init() {
	register("vmadm", runVmadm, true)
	register("zlogin", runZlogin, true)
	register("zoneadm", runZoneadm, true)
	register("imgadm", runImgadm, true)
	register("hulld", func(args []string) int { return hulld.Main(args, openNode, os.Stdout, os.Stderr) }, true)
	register("install", install, false)
	register("bench", func(args []string) int { return bench.Main(args, os.Stdout, os.Stderr) }, false)
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

func runZoneadm(args []string) int {
	return zoneadm.Main(args, zoneadm.Env{
		Stdout: os.Stdout, Stderr: os.Stderr,
		Open: openNode,
		View: func() (*node.Node, error) { return node.OpenView(node.RootFromEnv()) },
		Daemon: func() zoneadm.Daemon {
			if d := daemon(); d != nil {
				return d
			}
			return nil
		},
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
	const usage = "Usage: hull install [DIR]\n\nMakes the command symlinks (vmadm, imgadm, zlogin, …) to this hull in DIR\n(default /usr/local/bin).\n"
	dir := "/usr/local/bin"
	switch {
	case len(args) == 1 && (args[0] == "-h" || args[0] == "--help"):
		fmt.Print(usage)
		return 0
	case len(args) > 1 || len(args) == 1 && strings.HasPrefix(args[0], "-"):
		fmt.Fprint(os.Stderr, usage)
		return 2
	case len(args) == 1:
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
