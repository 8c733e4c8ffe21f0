package node

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"hull/internal/vm"
)

// The list cache keeps every stored VM object in one file, so that
// `vmadm list` with a thousand zones reads one file instead of a
// thousand. It is valid while the vms/ directory's mtime is the one it
// was built at: every change of a VM object is a rename into vms/ (or a
// removal from it), which moves that mtime. File times come from a
// coarse clock, so a cache is only written once the directory has been
// quiet for longer than a clock tick; a change in the same tick as the
// build would otherwise go unseen.

const cacheQuiet = 50 * time.Millisecond

type listCache struct {
	DirMtime int64    `json:"dir_mtime"`
	VMs      []*vm.VM `json:"vms"`
}

func (n *Node) listCachePath() string { return filepath.Join(n.runDir(), "list.cache") }

// storedVMs returns every stored VM object (no computed fields), from the
// cache when it is current.
func (n *Node) storedVMs() ([]*vm.VM, error) {
	st, err := os.Stat(n.vmDir())
	if err != nil {
		return nil, err
	}
	mtime := st.ModTime().UnixNano()
	if b, err := os.ReadFile(n.listCachePath()); err == nil {
		var c listCache
		if json.Unmarshal(b, &c) == nil && c.DirMtime == mtime {
			return c.VMs, nil
		}
	}
	vms, err := n.readVMs()
	if err != nil {
		return nil, err
	}
	if time.Since(st.ModTime()) > cacheQuiet {
		if b, err := json.Marshal(listCache{DirMtime: mtime, VMs: vms}); err == nil {
			// Best effort: a reader without a writable run/ just reads
			// the files each time.
			_ = replaceFile(n.listCachePath(), b, 0o600, false)
		}
	}
	return vms, nil
}

// readVMs reads every VM object file, several at a time.
func (n *Node) readVMs() ([]*vm.VM, error) {
	ids, err := n.uuids()
	if err != nil {
		return nil, err
	}
	out := make([]*vm.VM, len(ids))
	parallel(len(ids), func(i int) {
		if v, err := n.loadVM(ids[i]); err == nil {
			out[i] = v
		} // else deleted meanwhile
	})
	vms := out[:0]
	for _, v := range out {
		if v != nil {
			vms = append(vms, v)
		}
	}
	return vms, nil
}
