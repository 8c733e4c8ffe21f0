package imgadm

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"hull/internal/hulld"
	"hull/internal/image"
	"hull/internal/node"
	"hull/internal/node/nodetest"
	"hull/internal/testenv"
)

// prepareScript follows the prepare-image contract: it reports through
// the metadata, changes the VM (as a real one cleans it up) and halts it.
const prepareScript = `#!/bin/sh
mdata-put prepare-image:state running
rm /root/keep
echo prepared > /root/prepared
mdata-put prepare-image:state success
poweroff
`

// TestCreatePrepared runs `imgadm create -s` on real zones, with hulld's
// metadata service: the image holds what the script made of the VM, and
// the VM is as it was afterwards (files, metadata, snapshots, running or
// not), also when the script reports an error.
func TestCreatePrepared(t *testing.T) {
	n := nodetest.New(t)
	ctx := context.Background()
	env := Env{Open: func() (*image.Store, error) { return n.Images, nil }}
	run := func(args ...string) (string, int) {
		var out bytes.Buffer
		code := Main(args, &out, &out, env)
		return out.String(), code
	}
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, bad := write("good.sh", prepareScript),
		write("bad.sh", "#!/bin/sh\nmdata-put prepare-image:state running\nmdata-put prepare-image:error 'no space left'\nmdata-put prepare-image:state error\nhalt\n")

	uuid := nodetest.Create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+nodetest.BusyboxUUID+`",
		"customer_metadata":{"prepare-image:state":"old"}}`)
	root := filepath.Join(n.Zonepath(uuid), "root")
	os.WriteFile(filepath.Join(root, "root/keep"), []byte("keep\n"), 0o644)

	// A snapshot of the name the preparation takes is the VM's own: it is
	// refused, and the snapshot kept.
	if err := n.CreateSnapshot(ctx, uuid, "imgadm-create-pre-prepare"); err != nil {
		t.Fatal(err)
	}
	if out, code := run("create", "-s", good, uuid, "name=prepped", "version=1.0", "-o", dir); code != 1 || !strings.Contains(out, "delete it first") {
		t.Fatalf("create -s with the snapshot taken: %d %s", code, out)
	}
	if err := n.DeleteSnapshot(ctx, uuid, "imgadm-create-pre-prepare"); err != nil {
		t.Fatal(err)
	}
	// Without hulld's metadata service, nothing is touched.
	if out, code := run("create", "-s", good, uuid, "name=prepped", "version=1.0", "-o", dir); code != 1 || !strings.Contains(out, "no metadata service") {
		t.Fatalf("create -s without hulld: %d %s", code, out)
	}
	md := hulld.StartMetadata(ctx, n, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(md.Close)

	// One preparation at a time: another one's (here, a lock held as a
	// running one holds it) keeps this one out, and nothing changes.
	lock, err := os.OpenFile(filepath.Join(n.Root, "locks", uuid+".lock.prepare"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if out, code := run("create", "-s", good, uuid, "name=prepped", "version=1.0", "-o", dir); code != 1 || !strings.Contains(out, "is being prepared") {
		t.Fatalf("create -s during another: %d %s", code, out)
	}
	lock.Close()

	out, code := run("create", "-s", good, uuid, "name=prepped", "version=1.0", "-o", dir)
	if code != 0 {
		t.Fatalf("create -s: %d %s", code, out)
	}
	for _, want := range []string{"Stopping VM", "Preparing VM", "Prepare script succeeded", "Saving manifest to"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	restored := func(state string) {
		t.Helper()
		v, err := n.Get(uuid)
		if err != nil {
			t.Fatal(err)
		}
		if v.State != state || len(v.Snapshots) != 0 || v.InternalMetadata["operator-script"] != "" ||
			v.CustomerMetadata["prepare-image:state"] != "old" || v.CustomerMetadata["prepare-image:error"] != "" {
			t.Errorf("VM after the preparation: state %s snapshots %v internal %v customer %v",
				v.State, v.Snapshots, v.InternalMetadata, v.CustomerMetadata)
		}
		if _, err := os.Stat(filepath.Join(root, "root/keep")); err != nil {
			t.Errorf("the VM's own file: %v", err)
		}
		if _, err := os.Stat(filepath.Join(root, "root/prepared")); err == nil {
			t.Error("the preparation's file is left in the VM")
		}
	}
	restored("running")
	// The image is the prepared VM.
	files := tarHeaders(t, filepath.Join(dir, "prepped-1.0.tar"))
	if !slices.Contains(files, "root/root/prepared") || slices.Contains(files, "root/root/keep") {
		t.Errorf("image files: %v", files)
	}

	// An error the script reports, on a stopped VM: no image, and the VM
	// stays stopped.
	if err := n.Stop(ctx, uuid, true, 0); err != nil {
		t.Fatal(err)
	}
	out, code = run("create", "-s", bad, uuid, "name=bad", "version=1.0", "-o", dir)
	if code != 1 || !strings.Contains(out, "prepare-image script error while preparing VM "+uuid+": no space left") {
		t.Fatalf("create -s with a failing script: %d %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad-1.0.imgmanifest")); err == nil {
		t.Error("a manifest was written for a failed preparation")
	}
	restored("stopped")
	if v, _ := n.Get(uuid); v.Autoboot == nil || *v.Autoboot {
		t.Errorf("autoboot after preparing a stopped VM: %v", v.Autoboot)
	}

	// imgadm killed mid-way: the next open of the node restores the VM.
	for _, fp := range []string{"prepare-image/before-boot", "prepare-image/after-boot"} {
		c := exec.Command(testenv.HullBinary(t), "imgadm", "create", "-s", good, uuid, "name=killed", "version=1.0", "-o", dir)
		c.Env = append(os.Environ(), "HULL_FAILPOINT="+fp)
		if out, err := c.CombinedOutput(); err == nil {
			t.Fatalf("create -s survived %s: %s", fp, out)
		}
		if _, err := node.Open(n.Root); err != nil {
			t.Fatal(err)
		}
		restored("stopped")
	}
}
