// Package nodetest gives tests outside package node a real node: a fresh
// hull root with the busybox test image installed, whose VMs are deleted
// and checked for leaks when the test ends. It needs root and runc.
package nodetest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"hull/internal/image"
	"hull/internal/image/imagetest"
	"hull/internal/node"
	"hull/internal/testenv"
)

// BusyboxUUID is the fixed uuid of the busybox test image.
const BusyboxUUID = "dc0688f0-0f6b-4b10-9a1e-2d9fa4ad9d22"

// New opens a node under a fresh root with the busybox image installed.
// HULL_ROOT and HULL_BINARY are set for the test, so commands run with
// Hull see the same node.
func New(t *testing.T) *node.Node {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "runc")
	t.Setenv("HULL_BINARY", testenv.HullBinary(t))
	root := t.TempDir()
	os.Chmod(filepath.Dir(root), 0o711)
	t.Setenv("HULL_ROOT", root)
	t.Setenv("HULL_DIRECT", "")
	n, err := node.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	m, f := imagetest.Busybox(t)
	if _, err := n.Images.Install(context.Background(), m, f, image.InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		vms, _ := n.List()
		for _, v := range vms {
			if err := n.Delete(context.Background(), v.UUID); err != nil {
				t.Errorf("cleanup: %v", err)
			}
			for _, l := range n.Leaks(v.UUID) {
				t.Errorf("%s: left behind: %s", v.UUID, l)
			}
		}
		_ = n.Images.Delete(BusyboxUUID)
		if err := n.ClosePool(); err != nil {
			t.Errorf("cleanup: close pool: %v", err)
		}
		for _, m := range node.MountsUnder(root) {
			_ = unix.Unmount(m, unix.MNT_DETACH)
		}
	})
	return n
}

// Create makes a VM from a payload and returns its uuid.
func Create(t *testing.T, n *node.Node, payload string) string {
	t.Helper()
	v, err := n.Create(context.Background(), []byte(payload))
	if err != nil {
		t.Fatalf("create %s: %v", payload, err)
	}
	return v.UUID
}

// Hull runs the hull binary as the given personality (args[0]) against
// the test's node, with stdin, and returns its combined output.
func Hull(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	c := exec.Command(testenv.HullBinary(t), args...)
	c.Env = os.Environ()
	if stdin != "" {
		c.Stdin = strings.NewReader(stdin)
	}
	out, err := c.CombinedOutput()
	return string(out), err
}
