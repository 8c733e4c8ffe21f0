//go:build !zone

package main

import (
	"os"
	"path/filepath"

	"hull/internal/network/netadm"
	"hull/internal/node"
	"hull/internal/vm"
)

// netEnv is the network commands' view of the node: its root and, read
// only, its VMs.
func netEnv() netadm.Env {
	root := node.RootFromEnv()
	return netadm.Env{
		Root: root,
		VMs: func() ([]*vm.VM, error) {
			if _, err := os.Stat(filepath.Join(root, "vms")); err != nil {
				return nil, nil // not a node yet: no VMs
			}
			n, err := node.OpenView(root)
			if err != nil {
				return nil, err
			}
			return n.List()
		},
		Stdout: os.Stdout, Stderr: os.Stderr,
	}
}

func init() {
	register("nictagadm", func(args []string) int { return netadm.Nictagadm(netEnv(), args) }, true)
	register("dladm", func(args []string) int { return netadm.Dladm(netEnv(), args) }, true)
	register("network", func(args []string) int { return netadm.Network(netEnv(), args) }, false)
}
