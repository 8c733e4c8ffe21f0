package imgadm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"hull/internal/image"
)

const vmUUID = "7e1a0000-0000-4000-8000-0000000000e1"

// TestCreate makes images of a stopped VM cloned from an image and
// changed since: a full one, an incremental one (only the changes, its
// origin the VM's image) and one published straight to a source; each
// installs to the VM's files.
// barUUID is the uuid given to the images TestCreate makes with a
// progress bar.
const barUUID = "7e1a0000-0000-4000-8000-0000000000ba"

func TestCreate(t *testing.T) {
	rm := newRemote(t)
	rm.useSource()
	rm.publish(baseUUID, "base", "", "2024-01-01T00:00:00.000Z",
		tgz(map[string]string{"etc/motd": "base\n", "etc/gone": "x", "etc/kept": "k\n"}, "etc/", "etc/motd", "etc/gone", "etc/kept"))
	rm.ok("import", "-q", baseUUID)
	t.Cleanup(rm.cleanAll)
	// The VM: a clone of the image, changed.
	ds, err := rm.pool.Clone(rm.store.Snapshot(baseUUID), "zones/"+vmUUID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rm.pool.Destroy("zones/" + vmUUID) })
	root := filepath.Join(ds.Mountpoint, "root")
	os.WriteFile(filepath.Join(root, "etc/motd"), []byte("vm\n"), 0o644)
	os.Remove(filepath.Join(root, "etc/gone"))
	os.MkdirAll(filepath.Join(root, "opt/app"), 0o755)
	os.WriteFile(filepath.Join(root, "opt/app/run"), []byte("#!/bin/sh\n"), 0o755)
	// Extended attributes go with the files: a user attribute on a new
	// file, and a file capability (cap_net_raw+ep) set on a file that
	// is otherwise unchanged (its mtime and size the image's).
	if err := unix.Setxattr(filepath.Join(root, "opt/app/run"), "user.role", []byte("app"), 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(root, "etc/kept"), "security.capability", netRawCap, 0); err != nil {
		t.Fatal(err)
	}
	rm.env.VM = func(u string) (*VMSource, func(), error) {
		if u != vmUUID {
			t.Errorf("VM asked for: %s", u)
		}
		return &VMSource{Root: root, Brand: "joyent-minimal", ImageUUID: baseUUID}, func() {}, nil
	}
	out := t.TempDir()

	// installed checks that an image made of the VM has the VM's files.
	installed := func(prefix, file string) *image.Manifest {
		t.Helper()
		b, err := os.ReadFile(prefix + ".imgmanifest")
		if err != nil {
			t.Fatal(err)
		}
		m, err := image.ParseManifest(b)
		if err != nil {
			t.Fatal(err)
		}
		rm.ok("install", "-q", "-m", prefix+".imgmanifest", "-f", prefix+file)
		mp, _ := rm.store.Mountpoint(m.UUID)
		for p, want := range map[string]string{"etc/motd": "vm\n", "etc/kept": "k\n", "opt/app/run": "#!/bin/sh\n"} {
			if b, err := os.ReadFile(filepath.Join(mp, "root", p)); err != nil || string(b) != want {
				t.Errorf("%s of image %s: %q %v", p, m.Name, b, err)
			}
		}
		for p, x := range map[string][2]string{"opt/app/run": {"user.role", "app"}, "etc/kept": {"security.capability", string(netRawCap)}} {
			buf := make([]byte, 64)
			n, err := unix.Getxattr(filepath.Join(mp, "root", p), x[0], buf)
			if err != nil || string(buf[:max(n, 0)]) != x[1] {
				t.Errorf("%s of image %s: xattr %s %q (%v), want %q", p, m.Name, x[0], buf[:max(n, 0)], err, x[1])
			}
		}
		if _, err := os.Stat(filepath.Join(mp, "root/etc/gone")); !os.IsNotExist(err) {
			t.Errorf("etc/gone in image %s: %v", m.Name, err)
		}
		return m
	}

	full := rm.ok("create", "-q", "-o", out, vmUUID, "name=full", "version=2.0", `tags={"role":"web"}`)
	// The file is not compressed unless -c says so, as SmartOS's.
	m := installed(filepath.Join(out, "full-2.0"), ".tar")
	// The steps, told as SmartOS's create tells them.
	for _, want := range []string{
		"Inheriting from origin image " + baseUUID + " (base 1.0.0)\nManifest:\n    {\n      \"name\": \"full\",\n",
		"\n    }\nSending image file to \"" + filepath.Join(out, "full-2.0.tar") + "\"\nSaving manifest to \"" + filepath.Join(out, "full-2.0.imgmanifest") + "\"\n",
		"\n      \"uuid\": \"" + m.UUID + "\",\n",
	} {
		if !strings.Contains(full, want) {
			t.Errorf("create's output lacks %q:\n%s", want, full)
		}
	}
	if m.Origin != "" || m.Type != "zone-dataset" || m.OS != "linux" || m.Tags["role"] != "web" || m.Files[0].Compression != "none" {
		t.Errorf("full image's manifest: %+v", m)
	}

	// -c xz, as SmartOS's create offers it.
	rm.ok("create", "-q", "-c", "xz", "-o", filepath.Join(out, "xz"), vmUUID, "name=xz", "version=1")
	if b, err := os.ReadFile(filepath.Join(out, "xz.imgmanifest")); err != nil || !strings.Contains(string(b), `"compression": "xz"`) {
		t.Errorf("xz image's manifest: %v %s", err, b)
	}
	rm.ok("install", "-q", "-m", filepath.Join(out, "xz.imgmanifest"), "-f", filepath.Join(out, "xz.tar.xz"))
	// A progress bar of the bytes written, on a terminal (stderr) unless -q.
	for _, quiet := range []bool{false, true} {
		rm.env.Progress = ptr(true)
		args := []string{"create", "-o", filepath.Join(out, "bar"+strconv.FormatBool(quiet)), vmUUID, "name=bar", "version=1", "uuid=" + barUUID}
		if quiet {
			args = append(args[:1], append([]string{"-q"}, args[1:]...)...)
		}
		var o, e bytes.Buffer
		code := Main(args, &o, &e, rm.env)
		rm.env.Progress = ptr(false)
		if code != 0 {
			t.Fatalf("create: exit %d\n%s%s", code, &o, &e)
		}
		if bar := strings.Contains(e.String(), barUUID[:8]) && strings.Contains(e.String(), "KiB"); bar == quiet || (quiet && e.Len() > 0) {
			t.Errorf("create (quiet %v): stderr %q", quiet, e.String())
		}
		if !strings.Contains(o.String(), "Saving manifest to") || strings.Contains(o.String(), "KiB") {
			t.Errorf("create (quiet %v): stdout %q", quiet, o.String())
		}
	}
	// and -c bzip2.
	rm.ok("create", "-q", "-c", "bzip2", "-o", filepath.Join(out, "bz"), vmUUID, "name=bz", "version=1")
	if m := installed(filepath.Join(out, "bz"), ".tar.bz2"); m.Files[0].Compression != "bzip2" {
		t.Errorf("bzip2 image's compression: %q", m.Files[0].Compression)
	}

	// -i: only what changed, on top of the origin.
	rm.ok("create", "-q", "-i", "-c", "gzip", "-o", filepath.Join(out, "incr"), vmUUID, "name=incr", "version=2.1")
	m = installed(filepath.Join(out, "incr"), ".tar.gz")
	if m.Origin != baseUUID {
		t.Errorf("incremental image's origin: %q", m.Origin)
	}
	if fi, _ := os.Stat(filepath.Join(out, "incr.tar.gz")); fi == nil || m.Files[0].Size != fi.Size() {
		t.Errorf("incremental file: %v, manifest size %d", fi, m.Files[0].Size)
	}
	// The incremental file holds the changes only.
	var names []string
	for _, h := range tarHeaders(t, filepath.Join(out, "incr.tar.gz")) {
		if !strings.HasSuffix(h, "/") {
			names = append(names, h)
		}
	}
	slices.Sort(names)
	if got := strings.Join(names, " "); got != "root/etc/.wh.gone root/etc/kept root/etc/motd root/opt/app/run" {
		t.Errorf("incremental file's files: %s", got)
	}
	if code, lst, _ := rm.run("ancestry", "-H", "-o", "name", m.UUID); code != 0 || lst != "incr\nbase\n" {
		t.Errorf("ancestry of the incremental image: %q", lst)
	}

	// -p: published to a source, no files kept.
	dir := t.TempDir()
	wd, _ := os.Getwd()
	os.Chdir(dir)
	defer os.Chdir(wd)
	pub := rm.ok("create", "-q", "-p", rm.srv.URL, vmUUID, "name=pub", "version=1")
	if !strings.Contains(pub, "Successfully published image ") {
		t.Errorf("create -p: %q", pub)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("files left by create -p: %v", ents)
	}
	var avail []struct {
		Manifest image.Manifest `json:"manifest"`
	}
	json.Unmarshal([]byte(rm.ok("avail", "-j", "name=pub")), &avail)
	if len(avail) != 1 || avail[0].Manifest.Version != "1" {
		t.Errorf("the published image: %+v", avail)
	}

	// Mistakes.
	rm.expect(2, "", "*", "create", vmUUID, "version=1")
	rm.expect(2, "", "*", "create", "-o", out, "-p", rm.srv.URL, vmUUID, "name=x", "version=1")
	if code, _, errOut := rm.run("create", "-c", "lz4", "-o", out, vmUUID, "name=x", "version=1"); code != 2 ||
		!strings.HasPrefix(errOut, `imgadm create: error (Usage): invalid -c,--compression "lz4": must be one of "none", "bzip2", "gzip", "xz", "zstd"`+"\n") {
		t.Errorf("create -c lz4: exit %d, %q", code, errOut)
	}
	rm.env.VM = func(string) (*VMSource, func(), error) {
		return &VMSource{Root: root, Brand: "joyent-minimal"}, func() {}, nil
	}
	rm.expect(1, "", "imgadm create: error (VmHasNoOrigin): cannot create an incremental image: vm \""+vmUUID+"\" has no origin\n", "create", "-i", vmUUID, "name=x", "version=1")
}

// netRawCap is security.capability for cap_net_raw+ep (a vfs_cap_data of
// revision 2: magic with the effective bit, then permitted and
// inheritable for the low and high 32 capabilities).
var netRawCap = []byte{1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

// tarHeaders lists the entry names of a tar, gzip'd when its name says.
func tarHeaders(t *testing.T, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		if r, err = gzip.NewReader(f); err != nil {
			t.Fatal(err)
		}
	}
	var out []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h.Name)
	}
}
