package node

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hull/internal/vm"
)

// TestArchiveOnDelete: with archive_on_delete and the archive directory
// made, a deleted VM leaves SmartOS's debug data in archive/<uuid>: its
// object, its datasets' properties, config/, and by brand its logs (a
// docker zone's stdio.log and rotated copies; a zone's service logs and
// messages, a symlink copied as one, never followed). Without the
// property, or without the directory, nothing is archived.
func TestArchiveOnDelete(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	docker := create(t, n, `{"brand":"joyent-minimal","docker":true,"archive_on_delete":true,
		"image_uuid":"`+BusyboxUUID+`","internal_metadata":{"docker:cmd":"[\"/bin/sh\",\"-c\",\"echo hello; echo oops >&2\"]"}}`)
	plain := create(t, n, `{"brand":"joyent-minimal","archive_on_delete":true,"image_uuid":"`+BusyboxUUID+`"}`)
	// A zone whose log directories lead out of it.
	escape := create(t, n, `{"brand":"joyent-minimal","archive_on_delete":true,"autoboot":false,"image_uuid":"`+BusyboxUUID+`"}`)
	none := create(t, n, `{"brand":"joyent-minimal","autoboot":false,"image_uuid":"`+BusyboxUUID+`"}`)
	reconcileUntil(t, n, docker, 30*time.Second, func(v *vm.VM) bool { return v.State == "stopped" })
	rotated := n.StdioLog(docker) + ".20200101T000000Z"
	if err := os.WriteFile(rotated, []byte("older\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(n.Zonepath(plain), "root")
	for rel, content := range map[string]string{"var/svc/log/site-web:default.log": "svc log\n", "var/adm/messages": "msg\n"} {
		os.MkdirAll(filepath.Dir(filepath.Join(root, rel)), 0o755)
		if err := os.WriteFile(filepath.Join(root, rel), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/shadow", filepath.Join(root, "var/adm/messages.0")); err != nil {
		t.Fatal(err)
	}

	eroot := filepath.Join(n.Zonepath(escape), "root")
	os.MkdirAll(filepath.Join(eroot, "var"), 0o755)
	os.Symlink("/etc", filepath.Join(eroot, "var/svc"))
	os.Symlink("../../../../../../../../etc", filepath.Join(eroot, "var/adm"))

	// No archive directory: nothing archived, and the VM goes.
	if err := n.Delete(ctx, none); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(n.ArchiveDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, uuid := range []string{docker, plain, escape} {
		if err := n.Delete(ctx, uuid); err != nil {
			t.Fatal(err)
		}
		checkNoLeaks(t, n, uuid)
	}
	read := func(uuid, rel string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(n.ArchiveDir(), uuid, rel))
		if err != nil {
			t.Error(err)
		}
		return string(b)
	}
	for _, uuid := range []string{docker, plain} {
		var v vm.VM
		if err := json.Unmarshal([]byte(read(uuid, "vm.json")), &v); err != nil || v.UUID != uuid || v.State != "stopped" {
			t.Errorf("%s: vm.json: %+v, %v", uuid, v, err)
		}
		if dump := read(uuid, "zfs.dump"); !strings.Contains(dump, "zones/"+uuid+"\ttype\tfilesystem\t-\n") {
			t.Errorf("%s: zfs.dump:\n%s", uuid, dump)
		}
		if st, err := os.Stat(filepath.Join(n.ArchiveDir(), uuid, "config")); err != nil || !st.IsDir() {
			t.Errorf("%s: no config/ archived: %v", uuid, err)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(n.ArchiveDir(), docker, "docker"))
	var latest string
	for _, e := range ents {
		if e.Name() != filepath.Base(rotated) {
			latest = e.Name()
		}
	}
	if len(ents) != 2 || read(docker, "docker/"+filepath.Base(rotated)) != "older\n" {
		t.Errorf("docker/: %v, want the rotated copy and the log", ents)
	} else if log := read(docker, "docker/"+latest); !strings.Contains(log, `"log":"hello\n","stream":"stdout"`) || !strings.Contains(log, `"log":"oops\n","stream":"stderr"`) {
		t.Errorf("docker/%s:\n%s", latest, log)
	}
	if got := read(plain, "svclogs/site-web:default.log") + read(plain, "admmsgs/messages"); got != "svc log\nmsg\n" {
		t.Errorf("svclogs and admmsgs: %q", got)
	}
	if st, err := os.Stat(filepath.Join(n.ArchiveDir(), plain, "console", plain+".log")); err != nil || !st.Mode().IsRegular() {
		t.Errorf("console log of a zone that ran: %v", err)
	}
	if to, err := os.Readlink(filepath.Join(n.ArchiveDir(), plain, "admmsgs/messages.0")); err != nil || to != "/etc/shadow" {
		t.Errorf("admmsgs/messages.0: %q, %v; want the symlink itself", to, err)
	}
	for _, dir := range []string{"svclogs", "admmsgs"} {
		if ents, _ := os.ReadDir(filepath.Join(n.ArchiveDir(), escape, dir)); len(ents) > 0 {
			t.Errorf("%s of a zone whose log directories lead out: %v", dir, ents)
		}
	}
	if _, err := os.Stat(filepath.Join(n.ArchiveDir(), none)); err == nil {
		t.Error("a VM without archive_on_delete was archived")
	}
}
