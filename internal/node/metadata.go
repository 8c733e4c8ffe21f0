package node

import (
	"fmt"
	"hull/internal/zone"
	"os"
	"path/filepath"
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
// it. Mode 0711 all the way down: the zone's root, an unprivileged host
// uid, may pass through to the socket but list nothing.
func (n *Node) PrepareZonecontrol(uuid string) (string, error) {
	if !ValidUUID(uuid) {
		return "", fmt.Errorf("invalid uuid: %q", uuid)
	}
	parent := filepath.Join(n.runDir(), "zonecontrol")
	d := n.ZonecontrolDir(uuid)
	for _, p := range []string{parent, d} {
		if err := os.Mkdir(p, 0o711); err != nil && !os.IsExist(err) {
			return "", fmt.Errorf("zonecontrol for %s: %w", uuid, err)
		}
		if err := os.Chmod(p, 0o711); err != nil {
			return "", fmt.Errorf("zonecontrol for %s: %w", uuid, err)
		}
	}
	return d, nil
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

// ToolLinks returns the directory of mdata tool links that sparse zones
// see over their /usr/sbin, making it on first use: symlinks to the
// in-zone hull binary, which picks the tool by the name it is run as.
func (n *Node) ToolLinks() (string, error) {
	d := filepath.Join(n.Root, "share", "sbin")
	for _, t := range zone.MdataTools {
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
