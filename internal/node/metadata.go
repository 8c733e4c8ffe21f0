package node

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"hull/internal/zone"
	"hull/internal/zoneinit"
)

// ZonecontrolDir is the host directory that a zone sees at /.zonecontrol
// (/native/.zonecontrol in lx zones). It holds the zone's metadata
// socket, which hulld serves; the zone mounts the directory rather than
// the socket, so a socket that a restarted hulld creates anew appears in
// a running zone.
func (n *Node) ZonecontrolDir(uuid string) string {
	return filepath.Join(n.runDir(), "zonecontrol", uuid)
}

// MetadataSocket is the host path of the zone's metadata socket.
func (n *Node) MetadataSocket(uuid string) string {
	return filepath.Join(n.ZonecontrolDir(uuid), "metadata.sock")
}

// PrepareZonecontrol creates the zone's zonecontrol directory and returns
// it. As in SmartOS (mode 700), only the zone's root may use the socket,
// for it hands out *_pw keys: the directory is mode 0700 and owned by the
// host uid that is root in the zone (a zone without a uid range yet gets
// a root-owned one, and its owner at boot). The parent is 0711: a zone's
// root, an unprivileged host uid, may pass through it but list nothing.
func (n *Node) PrepareZonecontrol(uuid string) (string, error) {
	if !ValidUUID(uuid) {
		return "", fmt.Errorf("invalid uuid: %q", uuid)
	}
	owner := 0
	if n.IDs != nil {
		rng, ok, err := n.IDs.Lookup(uuid)
		if err != nil {
			return "", fmt.Errorf("zonecontrol for %s: %w", uuid, err)
		}
		if ok {
			owner = int(rng.HostID)
		}
	}
	parent := filepath.Join(n.runDir(), "zonecontrol")
	d := n.ZonecontrolDir(uuid)
	for _, p := range []struct {
		path  string
		mode  os.FileMode
		owner int
	}{{parent, 0o711, 0}, {d, 0o700, owner}} {
		if err := os.Mkdir(p.path, p.mode); err != nil && !os.IsExist(err) {
			return "", fmt.Errorf("zonecontrol for %s: %w", uuid, err)
		}
		if err := ensureOwner(p.path, p.owner); err != nil {
			return "", fmt.Errorf("zonecontrol for %s: %w", uuid, err)
		}
		if err := os.Chmod(p.path, p.mode); err != nil {
			return "", fmt.Errorf("zonecontrol for %s: %w", uuid, err)
		}
	}
	return d, nil
}

// MetadataExpected names the file in a zone's zonecontrol directory that
// says, at its boot, that hulld runs and so serves its metadata: the
// zone's metadata services wait for the socket only then.
const MetadataExpected = "metadata.expected"

// noteMetadataService writes or removes zc's MetadataExpected, by
// whether hulld answers on its socket (a connect: no socket fails at
// once).
func (n *Node) noteMetadataService(zc string) {
	p := filepath.Join(zc, MetadataExpected)
	if c, err := net.DialTimeout("unix", n.Socket(), 100*time.Millisecond); err == nil {
		c.Close()
		if f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o444); err == nil {
			f.Close()
		}
		return
	}
	os.Remove(p)
}

// ensureOwner makes uid (and the group of the same number) own path,
// changing nothing when it does already.
func ensureOwner(path string, uid int) error {
	st, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) == uid && int(sys.Gid) == uid {
		return nil
	}
	return os.Lchown(path, uid, uid)
}

// RemoveZonecontrol removes the zone's zonecontrol directory (the VM is
// being deleted).
func (n *Node) RemoveZonecontrol(uuid string) error {
	if !ValidUUID(uuid) {
		return fmt.Errorf("invalid uuid: %q", uuid)
	}
	return os.RemoveAll(n.ZonecontrolDir(uuid))
}

// ZonecontrolUUIDs lists the VMs that have a zonecontrol directory.
func (n *Node) ZonecontrolUUIDs() []string {
	ents, _ := os.ReadDir(filepath.Join(n.runDir(), "zonecontrol"))
	var out []string
	for _, e := range ents {
		if ValidUUID(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// VMUUIDs lists the node's VMs, sorted.
func (n *Node) VMUUIDs() ([]string, error) { return n.uuids() }

// ToolLinks returns the directory of tool links (mdata, shutdown and SMF)
// that sparse zones see over their /usr/sbin, making it on first use: symlinks to the
// in-zone hull binary, which picks the tool by the name it is run as.
func (n *Node) ToolLinks() (string, error) {
	d := filepath.Join(n.Root, "share", "sbin")
	tools := append(append([]string(nil), zone.MdataTools...), zoneinit.ShutdownTools...)
	for _, t := range zone.SMFTools {
		tools = append(tools, t.Name) // all in the overlay of /usr/sbin
	}
	for _, t := range tools {
		p := filepath.Join(d, t)
		if target, err := os.Readlink(p); err == nil && target == zone.HullBin {
			continue
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", fmt.Errorf("mdata tool links: %w", err)
		}
		tmp := p + ".tmp"
		os.Remove(tmp)
		if err := os.Symlink(zone.HullBin, tmp); err != nil {
			return "", fmt.Errorf("mdata tool links: %w", err)
		}
		if err := os.Rename(tmp, p); err != nil {
			return "", fmt.Errorf("mdata tool links: %w", err)
		}
	}
	return d, nil
}
