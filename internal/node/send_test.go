package node

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"hull/internal/pool"
	"hull/internal/pool/stream"
	"hull/internal/testenv"
)

// newPeer opens a second node under its own root, without any image: a
// received VM must not need the image it was cloned from.
func newPeer(t *testing.T) *Node {
	t.Helper()
	root := t.TempDir()
	os.Chmod(filepath.Dir(root), 0o711)
	n, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		vms, _ := n.List()
		for _, v := range vms {
			if err := n.Delete(context.Background(), v.UUID); err != nil {
				t.Errorf("cleanup: %v", err)
			}
			checkNoLeaks(t, n, v.UUID)
		}
		unmountAll(root)
	})
	return n
}

// treeListing describes every entry under dir: type, mode, owner, size,
// link target, content checksum and xattrs, for comparing two trees.
func treeListing(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%s %o %d:%d", rel, st.Mode, st.Uid, st.Gid)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, _ := os.ReadFile(p)
			line += fmt.Sprintf(" size=%d nlink=%d sum=%x mtime=%d", st.Size, st.Nlink, sum(b), st.Mtim.Nano())
		case unix.S_IFLNK:
			l, _ := os.Readlink(p)
			line += " -> " + l
		case unix.S_IFCHR, unix.S_IFBLK:
			line += fmt.Sprintf(" rdev=%d", st.Rdev)
		}
		if xa, err := xattrList(p); err == nil && xa != "" {
			line += " xattrs=" + xa
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func sum(b []byte) uint32 {
	var h uint32 = 2166136261
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

func xattrList(p string) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return "", err
	}
	names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
	sort.Strings(names)
	return strings.Join(names, ","), nil
}

// sendVM runs vmadm send in a subprocess and returns its stdout.
func sendVM(t *testing.T, n *Node, env []string, uuid string) ([]byte, error) {
	t.Helper()
	c := exec.Command(testenv.HullBinary(t), "vmadm", "send", uuid)
	c.Env = append(os.Environ(), append([]string{"HULL_ROOT=" + n.Root}, env...)...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	if err != nil {
		err = fmt.Errorf("%w: %s", err, errb.String())
	}
	return out.Bytes(), err
}

// TestSendReceive moves a zone with varied content between two nodes:
// the received tree is the sent one, and the zone boots with its data.
func TestSendReceive(t *testing.T) {
	src, dst := newNode(t), newPeer(t)
	ctx := context.Background()
	uuid := create(t, src, `{"brand":"joyent-minimal","alias":"mover","max_lwps":333,"image_uuid":"`+BusyboxUUID+`"}`)
	mustExec(t, src, uuid, "echo payload > /data.txt && mkdir -p /home/u && chown 1000:1000 /home/u && "+
		"echo u > /home/u/f && chown 1000:100 /home/u/f && ln /data.txt /hard && ln -s data.txt /soft && "+
		"chmod 4755 /bin/busybox && mkfifo /fifo && dd if=/dev/urandom of=/big bs=1M count=3 2>/dev/null")
	if err := src.CreateSnapshot(ctx, uuid, "before-move"); err != nil {
		t.Fatal(err)
	}
	// SmartOS's send stops a running VM first.
	if _, err := sendVM(t, src, nil, uuid); err != nil {
		t.Fatal(err)
	}
	if st := state(t, src, uuid); st != "stopped" {
		t.Fatalf("sent VM is %s", st)
	}
	if err := unix.Setxattr(filepath.Join(src.Zonepath(uuid), "root/data.txt"), "user.tag", []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	s, err := sendVM(t, src, nil, uuid)
	if err != nil {
		t.Fatal(err)
	}
	before := treeListing(t, src.Zonepath(uuid))
	v, err := dst.Receive(ctx, bytes.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	if v.UUID != uuid || v.Alias != "mover" || v.MaxLwps != 333 || v.State != "stopped" || len(v.Snapshots) != 0 || v.Zonepath != dst.Zonepath(uuid) {
		t.Fatalf("received %+v", v)
	}
	if after := treeListing(t, dst.Zonepath(uuid)); after != before {
		t.Fatalf("received tree differs\n--- sent\n%s\n--- received\n%s", before, after)
	}
	if _, err := dst.Receive(ctx, bytes.NewReader(s)); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second receive: %v", err)
	}
	if err := dst.Start(ctx, uuid); err != nil {
		t.Fatal(err)
	}
	if got := mustExec(t, dst, uuid, "cat /data.txt /home/u/f; stat -c %u:%g /home/u/f; ls -l /bin/busybox | cut -c1-10"); got != "payload\nu\n1000:100\n-rwsr-xr-x" {
		t.Fatalf("received zone sees %q", got)
	}
	if err := dst.Stop(ctx, uuid, true, 0); err != nil {
		t.Fatal(err)
	}
}

// TestReceiveRejectsDamage feeds damaged streams: each is refused and
// leaves no VM, dataset or journal entry.
func TestReceiveRejectsDamage(t *testing.T) {
	src, dst := newNode(t), newPeer(t)
	uuid := create(t, src, `{"brand":"joyent-minimal","autoboot":false,"image_uuid":"`+BusyboxUUID+`"}`)
	s, err := sendVM(t, src, nil, uuid)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(off int) []byte { c := bytes.Clone(s); c[off] ^= 1; return c }
	for name, bad := range map[string][]byte{
		"empty":          nil,
		"truncated head": s[:100],
		"truncated half": s[:len(s)/2],
		"no end":         s[:len(s)-512],
		"flipped early":  flip(1200),
		"flipped middle": flip(len(s) / 2),
		"flipped late":   flip(len(s) - 700),
	} {
		if _, err := dst.Receive(context.Background(), bytes.NewReader(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
		checkNoLeaks(t, dst, uuid)
	}
	if _, err := stream.NewReader(bytes.NewReader(s[:len(s)/2])).JSON(); err != nil {
		t.Fatalf("the object leads the stream: %v", err)
	}
}

// TestKillDuringSendAndReceive kills vmadm send and vmadm receive at each
// step: the sender's VM is untouched, the cut stream is refused, and the
// receiving node has nothing of the VM after its next open.
func TestKillDuringSendAndReceive(t *testing.T) {
	src, dst := newNode(t), newPeer(t)
	// With a delegated dataset where the pool has them: a stream of two
	// datasets, both undone on the receiver after a crash.
	delegate := pool.HasChildren(src.Pool)
	uuid := create(t, src, fmt.Sprintf(`{"brand":"joyent-minimal","autoboot":false,"delegate_dataset":%v,"image_uuid":"%s"}`, delegate, BusyboxUUID))
	writeRoot(t, src, uuid, "data.txt", "keep")
	if delegate {
		if err := os.WriteFile(filepath.Join(src.Zonepath(uuid), "data", "d.txt"), []byte("data"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, fp := range []string{"send/after-json", "send/after-pack"} {
		cut, err := sendVM(t, src, []string{"HULL_FAILPOINT=" + fp}, uuid)
		if err == nil || !strings.HasPrefix(err.Error(), "signal: killed") {
			t.Fatalf("send was not killed at %s: %v", fp, err)
		}
		src = reopen(t, src)
		if got := readRoot(t, src, uuid, "data.txt"); got != "keep" || state(t, src, uuid) != "stopped" {
			t.Fatalf("sender after a crash at %s: %q", fp, got)
		}
		if _, err := dst.Receive(context.Background(), bytes.NewReader(cut)); err == nil {
			t.Fatalf("stream cut at %s accepted", fp)
		}
		checkNoLeaks(t, dst, uuid)
	}
	s, err := sendVM(t, src, nil, uuid)
	if err != nil {
		t.Fatal(err)
	}
	for _, fp := range []string{"receive/after-create", "receive/after-unpack", "receive/before-config", "receive/after-config"} {
		c := exec.Command(testenv.HullBinary(t), "vmadm", "receive")
		c.Env = append(os.Environ(), "HULL_ROOT="+dst.Root, "HULL_FAILPOINT="+fp)
		c.Stdin = bytes.NewReader(s)
		if out, err := c.CombinedOutput(); err == nil || err.Error() != "signal: killed" {
			t.Fatalf("receive was not killed at %s: %v %s", fp, err, out)
		}
		// Until it is undone, the VM is listed as SmartOS lists one being
		// received, before its object is written as after.
		if out, err := hull(t, dst, nil, "", "vmadm", "list", "-H", "-o", "uuid,state,alias"); err != nil || strings.Join(strings.Fields(out), " ") != uuid+" receiving -" {
			t.Errorf("vmadm list after a crash at %s: %v %q", fp, err, out)
		}
		if out, err := hull(t, dst, nil, "", "vmadm", "get", uuid); err != nil || !strings.Contains(out, `"state": "receiving"`) || !strings.Contains(out, `"transition_to": "stopped"`) {
			t.Errorf("vmadm get after a crash at %s: %v %s", fp, err, out)
		}
		dst = reopen(t, dst)
		checkNoLeaks(t, dst, uuid)
		if _, err := os.Stat(dst.receivingFile(uuid)); !os.IsNotExist(err) {
			t.Errorf("display copy left after recovery from %s: %v", fp, err)
		}
		if out, err := hull(t, dst, nil, "", "vmadm", "list", "-H"); err != nil || out != "" {
			t.Errorf("vmadm list after recovery from %s: %v %q", fp, err, out)
		}
	}
	// Through the command line, as in the manual.
	c := exec.Command("sh", "-c", `"$0" vmadm send "$1" | HULL_ROOT="$2" "$0" vmadm receive`, testenv.HullBinary(t), uuid, dst.Root)
	c.Env = append(os.Environ(), "HULL_ROOT="+src.Root)
	if out, err := c.CombinedOutput(); err != nil || !strings.Contains(string(out), "Successfully received VM "+uuid) {
		t.Fatalf("send | receive: %v\n%s", err, out)
	}
	if got := readRoot(t, dst, uuid, "data.txt"); got != "keep" {
		t.Fatalf("received %q", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dst.Zonepath(uuid), "data", "d.txt")); delegate && string(b) != "data" {
		t.Fatalf("received delegated dataset holds %q", b)
	}
	if _, err := os.Stat(dst.receivingFile(uuid)); !os.IsNotExist(err) {
		t.Errorf("display copy left after a receive: %v", err)
	}
	if v, err := dst.GetShown(uuid); err != nil || v.State != "stopped" {
		t.Errorf("after a receive: %+v %v", v, err)
	}
}
