//go:build !zone

package main

import (
	"os"

	"hull/internal/node"
	"hull/internal/pool"
	"hull/internal/poolcmd"
)

func poolEnv() poolcmd.Env {
	root := node.RootFromEnv()
	return poolcmd.Env{
		Stdout: os.Stdout, Stderr: os.Stderr, Root: root,
		Open: func() (pool.Driver, error) {
			n, err := openNode()
			if err != nil {
				return nil, err
			}
			return n.Pool, nil
		},
		Export: func() error { return node.ExportPool(root) },
	}
}

func init() {
	register("pool", func(args []string) int { return poolcmd.Main(args, poolEnv()) }, false)
	// zfs list only; not put on PATH, where a host's own zfs may be.
	register("zfs", func(args []string) int { return poolcmd.ZFS(args, poolEnv()) }, false)
}
