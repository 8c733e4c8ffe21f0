package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hull/internal/pool/mounts"
	"hull/internal/testenv"
	"hull/internal/vm"
)

// TestOpenRefusedMountsNothing: an open refused for want of a static hull
// binary leaves no pool mounted under the root.
func TestOpenRefusedMountsNothing(t *testing.T) {
	testenv.RequireRoot(t)
	root := t.TempDir()
	os.Chmod(filepath.Dir(root), 0o711)  // zones' roots must be reachable
	t.Setenv("HULL_BINARY", "/bin/true") // dynamically linked
	n, err := Open(root)
	if err == nil {
		n.ClosePool()
		t.Fatal("open with a dynamically linked hull binary succeeded")
	}
	if !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("error: %v", err)
	}
	if left, _ := mounts.Under(root); len(left) > 0 {
		for _, m := range left {
			mounts.Unmount(m, true)
		}
		t.Errorf("mounted after a refused open: %v", left)
	}
	if _, err := os.Stat(filepath.Join(root, "pool.img")); err == nil {
		t.Error("a pool was made by a refused open")
	}
}

// TestPruneBinaries: the copies other (older) versions of hull made are
// removed, with copies a crash left half-made; this version's, a newer
// version's, one being made now and files that are not copies stay.
func TestPruneBinaries(t *testing.T) {
	root := t.TempDir()
	bin := filepath.Join(root, "bin")
	os.MkdirAll(filepath.Join(bin, "hull-1-5"), 0o755) // not a file
	old := time.Now().Add(-time.Hour)
	files := map[string]bool{ // name: kept
		"hull-100-2000":     true, // this one
		"hull-90-1000":      false,
		"hull-100-1999":     false,
		"hull-90-1000.tmp":  false, // made an hour ago
		"hull-120-1500.tmp": true,  // being made
		"hull-120-3000":     true,  // a newer hull's
		"notes":             true,
	}
	for name := range files {
		p := filepath.Join(bin, name)
		os.WriteFile(p, []byte("x"), 0o755)
		if name == "hull-90-1000.tmp" {
			os.Chtimes(p, old, old)
		}
	}
	n := &Node{Root: root, HullBinary: filepath.Join(bin, "hull-100-2000")}
	k, err := n.PruneBinaries()
	if err != nil || k != 3 {
		t.Errorf("removed %d (%v), want 3", k, err)
	}
	for name, kept := range files {
		if _, err := os.Stat(filepath.Join(bin, name)); (err == nil) != kept {
			t.Errorf("%s: kept %v, want %v", name, err == nil, kept)
		}
	}
	if _, err := os.Stat(filepath.Join(bin, "hull-1-5")); err != nil {
		t.Errorf("directory removed: %v", err)
	}
	// No bin/ yet: nothing to do.
	if k, err := (&Node{Root: t.TempDir(), HullBinary: "/x/bin/hull-1-1"}).PruneBinaries(); k != 0 || err != nil {
		t.Errorf("without bin/: %d %v", k, err)
	}
}

// TestTakeExitMarker: the zone's exit marker is read and removed inside
// its root; a /run the zone made a symlink out of it reaches nothing.
func TestTakeExitMarker(t *testing.T) {
	n := &Node{Root: t.TempDir()}
	const uuid = "5a1e0000-0000-4000-8000-00000000e417"
	root := filepath.Join(n.Zonepath(uuid), "root")
	os.MkdirAll(filepath.Join(root, "run"), 0o755)
	os.WriteFile(filepath.Join(root, "run", ".hull-exit"), []byte("exit 3\n"), 0o644)
	if got := n.takeExitMarker(uuid); got != "exit 3\n" {
		t.Errorf("marker: %q", got)
	}
	if _, err := os.Stat(filepath.Join(root, "run", ".hull-exit")); !os.IsNotExist(err) {
		t.Errorf("marker left: %v", err)
	}
	// /run made a link to a host directory holding a file of that name.
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, ".hull-exit"), []byte("halt\n"), 0o644)
	os.RemoveAll(filepath.Join(root, "run"))
	os.Symlink(outside, filepath.Join(root, "run"))
	if got := n.takeExitMarker(uuid); got != "" {
		t.Errorf("marker read through a symlink out of the zone: %q", got)
	}
	if _, err := os.Stat(filepath.Join(outside, ".hull-exit")); err != nil {
		t.Errorf("the host's file was removed: %v", err)
	}
}

// TestWriteIdentity: the zone's hostname, hosts and resolv.conf are
// written inside its root: a symlink in a file's place is replaced, and
// an /etc that is a symlink out of the zone reaches nothing of the host.
func TestWriteIdentity(t *testing.T) {
	v := &vm.VM{UUID: "5a1e0000-0000-4000-8000-00000000e418", Hostname: "web", DNSDomain: "example.org", Resolvers: []string{"10.0.0.53"}}
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "etc"), 0o755)
	os.Symlink("/run/systemd/resolve/stub-resolv.conf", filepath.Join(root, "etc", "resolv.conf"))
	if err := writeIdentity(root, v); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"hostname": "web\n", "resolv.conf": "search example.org\nnameserver 10.0.0.53\n"} {
		p := filepath.Join(root, "etc", name)
		if st, err := os.Lstat(p); err != nil || !st.Mode().IsRegular() {
			t.Errorf("%s: %v %v", name, st, err)
		}
		if b, _ := os.ReadFile(p); string(b) != want {
			t.Errorf("%s: %q, want %q", name, b, want)
		}
	}
	// No /etc: one is made.
	bare := t.TempDir()
	if err := writeIdentity(bare, v); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(bare, "etc", "hostname")); string(b) != "web\n" {
		t.Errorf("hostname in a root without /etc: %q", b)
	}
	// /etc a link to a host directory: refused, the host's files untouched.
	evil, hostEtc := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(hostEtc, "hostname"), []byte("host\n"), 0o644)
	os.Symlink(hostEtc, filepath.Join(evil, "etc"))
	if err := writeIdentity(evil, v); err == nil {
		t.Error("identity written through an /etc that leads out of the zone")
	}
	if b, _ := os.ReadFile(filepath.Join(hostEtc, "hostname")); string(b) != "host\n" {
		t.Errorf("the host's file became %q", b)
	}
	if ents, _ := os.ReadDir(hostEtc); len(ents) != 1 {
		t.Errorf("files made in the host's directory: %v", ents)
	}
}
