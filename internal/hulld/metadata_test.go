package hulld

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"hull/internal/mdata"
	"hull/internal/metadata/protocol"
	"hull/internal/node"
	"hull/internal/node/nodetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// A PUT from the zone is in the VM object (vmadm get) and survives a
// hulld restart, which brings the socket back at the same path; vmadm
// update is seen by the next GET; a deleted VM's socket goes away.
func TestMetadataAcrossRestart(t *testing.T) {
	n := nodetest.New(t)
	ctx := context.Background()
	uuid := nodetest.Create(t, n, `{"brand":"joyent","alias":"md1","hostname":"md1","autoboot":false,"image_uuid":"`+nodetest.BusyboxUUID+`","customer_metadata":{"user-data":"hi"},"internal_metadata":{"root_pw":"pw","docker:cmd":"sh"},"internal_metadata_namespaces":["docker"]}`)
	sock := n.MetadataSocket(uuid)

	md := StartMetadata(ctx, n, quiet)
	c, err := protocol.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]protocol.Reply{
		"sdc:uuid": {Code: protocol.Success, Data: uuid}, "sdc:alias": {Code: protocol.Success, Data: "md1"},
		"user-data": {Code: protocol.Success, Data: "hi"}, "root_pw": {Code: protocol.Success, Data: "pw"},
		"docker:cmd": {Code: protocol.Success, Data: "sh"}, "nope": {Code: protocol.NotFound},
	} {
		if r, err := c.Get(key); err != nil || r != want {
			t.Errorf("GET %s = %+v %v, want %+v", key, r, err, want)
		}
	}
	if r, _ := c.Put("docker:cmd", "evil"); r.Code != protocol.Failure {
		t.Errorf("PUT into a namespace: %+v", r)
	}
	if r, err := c.Put("color", "blue"); err != nil || r.Code != protocol.Success {
		t.Fatalf("PUT: %+v %v", r, err)
	}
	v, _ := n.Get(uuid)
	if v.CustomerMetadata["color"] != "blue" || v.InternalMetadata["docker:cmd"] != "sh" {
		t.Errorf("VM object after PUT: %v %v", v.CustomerMetadata, v.InternalMetadata)
	}
	if _, err := n.Update(ctx, uuid, []byte(`{"set_customer_metadata":{"size":"large"}}`)); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Get("size"); r.Data != "large" {
		t.Errorf("GET after vmadm update = %+v", r)
	}
	c.Close()

	// hulld stops: the socket goes; a new hulld on a freshly opened
	// node serves it again at the same path.
	md.Close()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket after stop: %v", err)
	}
	n2, err := node.Open(n.Root)
	if err != nil {
		t.Fatal(err)
	}
	md2 := StartMetadata(ctx, n2, quiet)
	defer md2.Close()
	c2, err := protocol.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if r, _ := c2.Get("color"); r.Data != "blue" {
		t.Errorf("GET after restart = %+v", r)
	}

	// The zone's root is an unprivileged host uid: it must be able to
	// reach the socket through the zonecontrol directory. Nobody else
	// may: not a user of the zone (it would read root_pw), as in
	// SmartOS, nor another zone's root.
	rng, ok, err := n2.IDs.Lookup(uuid)
	if err != nil || !ok {
		t.Fatalf("uid range of %s: %v %v", uuid, ok, err)
	}
	if out, code := runAs(t, n2.HullBinary, rng.HostID, sock, "mdata-get", "sdc:hostname"); out != "md1\n" || code != 0 {
		t.Errorf("mdata-get as the zone's root (uid %d): %q exit %d", rng.HostID, out, code)
	}
	other := rng.HostID + rng.Size // the next slot's root
	for who, uid := range map[string]uint32{"a user of the zone": rng.HostID + 1000, "another zone's root": other} {
		const denied = "ERROR: could not initialise protocol: Could not find metadata socket.\n"
		if out, code := runAs(t, n2.HullBinary, uid, sock, "mdata-get", "root_pw"); out != denied || code != 2 {
			t.Errorf("mdata-get root_pw as %s (uid %d): %q exit %d, want %q exit 2", who, uid, out, code, denied)
		}
	}
	if st, err := os.Stat(n2.ZonecontrolDir(uuid)); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("zonecontrol directory: %v %v, want mode 0700", st.Mode(), err)
	}

	if err := n2.Delete(ctx, uuid); err != nil {
		t.Fatal(err)
	}
	md2.Sync()
	if _, err := os.Stat(n2.ZonecontrolDir(uuid)); !os.IsNotExist(err) {
		t.Errorf("zonecontrol of a deleted VM: %v", err)
	}
	if z := md2.Server.Zones(); len(z) != 0 {
		t.Errorf("still serving %v", z)
	}
}

// runAs runs the hull binary as an mdata tool under uid.
func runAs(t *testing.T, hull string, uid uint32, sock, tool string, args ...string) (string, int) {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	link := filepath.Join(dir, tool)
	if err := os.Symlink(hull, link); err != nil {
		t.Fatal(err)
	}
	c := exec.Command(link, args...)
	c.Env = []string{mdata.SocketEnv + "=" + sock}
	c.Dir = "/"
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			c.Process.Kill()
		}
	}()
	out, err := c.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}
