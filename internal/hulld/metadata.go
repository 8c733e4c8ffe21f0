package hulld

import (
	"context"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"hull/internal/config"
	"hull/internal/metadata"
	"hull/internal/node"
)

// MetadataSync is how often hulld brings the set of metadata sockets in
// step with the node's VMs (created, deleted, socket removed).
const MetadataSync = time.Second

// Metadata serves the metadata protocol to every VM of the node, one
// unix socket per VM in its zonecontrol directory, from hulld's process.
type Metadata struct {
	Server *metadata.Server
	n      *node.Node
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	failed map[string]bool // VMs whose socket could not be made (logged once)
}

// StartMetadata creates the sockets of every VM and keeps them in step
// until ctx ends or Close is called.
func StartMetadata(ctx context.Context, n *node.Node, log *slog.Logger) *Metadata {
	ctx, cancel := context.WithCancel(ctx)
	m := &Metadata{
		Server: &metadata.Server{Source: n, Host: HostInfo(n.Root), Log: log},
		n:      n, log: log, cancel: cancel, done: make(chan struct{}), failed: map[string]bool{},
	}
	m.Sync()
	go func() {
		defer close(m.done)
		t := time.NewTicker(MetadataSync)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				m.Sync()
			}
		}
	}()
	return m
}

// Sync serves every VM that exists and stops serving the ones that are
// gone, removing their zonecontrol directories.
func (m *Metadata) Sync() {
	m.mu.Lock()
	defer m.mu.Unlock()
	uuids, err := m.n.VMUUIDs()
	if err != nil {
		m.log.Warn("metadata: list VMs", "err", err)
		return
	}
	want := map[string]bool{}
	serving := map[string]bool{}
	for _, u := range m.Server.Zones() {
		serving[u] = true
	}
	for _, u := range uuids {
		want[u] = true
		sock := m.n.MetadataSocket(u)
		if serving[u] {
			if _, err := os.Lstat(sock); err == nil {
				continue
			}
			m.Server.Forget(u) // its socket was removed: make a new one
		}
		_, err := m.n.PrepareZonecontrol(u)
		if err == nil {
			err = m.Server.Listen(u, sock)
		}
		if err != nil {
			if !m.failed[u] {
				m.log.Warn("metadata: cannot serve zone", "uuid", u, "err", err)
			}
			m.failed[u] = true
			continue
		}
		delete(m.failed, u)
	}
	for u := range serving {
		if !want[u] {
			m.Server.Forget(u)
		}
	}
	for _, u := range m.n.ZonecontrolUUIDs() {
		if !want[u] {
			m.n.RemoveZonecontrol(u)
		}
	}
}

// Close stops serving; the sockets are removed (zones' clients retry
// until a new hulld serves them again).
func (m *Metadata) Close() {
	m.cancel()
	<-m.done
	m.Server.Close()
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// HostInfo is what the node tells zones about itself: sdc:server_uuid is
// the machine's SMBIOS uuid (as SmartOS's sysinfo UUID), else its
// machine-id in uuid form; sdc:datacenter_name is the node config's
// datacenter_name.
func HostInfo(root string) metadata.Host {
	var h metadata.Host
	if b, err := os.ReadFile("/sys/class/dmi/id/product_uuid"); err == nil {
		if s := strings.ToLower(strings.TrimSpace(string(b))); uuidRE.MatchString(s) {
			h.ServerUUID = s
		}
	}
	if h.ServerUUID == "" {
		if b, err := os.ReadFile("/etc/machine-id"); err == nil {
			if s := strings.TrimSpace(string(b)); len(s) == 32 {
				h.ServerUUID = s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
			}
		}
	}
	if c, err := config.Load(root); err == nil {
		h.DatacenterName = c.Value("datacenter_name", "")
	}
	return h
}
