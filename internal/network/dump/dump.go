// Package dump reads netlink dumps (links, addresses, qdiscs, routes)
// whole on a busy host.
package dump

import (
	"errors"

	"github.com/vishvananda/netlink"
)

// tries bounds the retries: each interruption means some other link or
// namespace changed during the dump, which passes quickly.
const tries = 10

// Consistent runs a netlink dump again while the kernel reports it was
// interrupted by a concurrent change (its result then may miss entries
// or hold stale ones), and returns the first whole one, or the last
// error.
func Consistent[T any](list func() (T, error)) (T, error) {
	var v T
	var err error
	for range tries {
		if v, err = list(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	return v, err
}
