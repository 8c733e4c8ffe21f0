package imgadm

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestImportDiskFull imports an image that does not fit in the pool: the
// import fails with the filesystem's error, leaves nothing, and the pool
// takes the next image that fits.
func TestImportDiskFull(t *testing.T) {
	rm := newRemoteWith(t, func(base string) {
		// The pool's store on an 8 MiB filesystem of its own.
		store := filepath.Join(base, "pool")
		os.MkdirAll(store, 0o755)
		if err := unix.Mount("tmpfs", store, "tmpfs", 0, "size=8m"); err != nil {
			t.Fatalf("mount tmpfs: %v", err)
		}
		t.Cleanup(func() { unix.Unmount(store, unix.MNT_DETACH) })
	})
	rm.useSource()
	// 32 MiB of one letter: a small file, a large image (zeros would be
	// left holes, and fit).
	rm.publish(baseUUID, "big", "", "2024-01-01T00:00:00.000Z", tgz(map[string]string{"big": strings.Repeat("x", 32<<20)}, "big"))
	rm.publish(otherUUID, "small", "", "2024-01-02T00:00:00.000Z", tgz(map[string]string{"small": "fits\n"}, "small"))

	code, out, errOut := rm.run("import", "-q", baseUUID)
	if code != 1 || !strings.HasPrefix(errOut, "imgadm import: error: install image "+baseUUID+": image file "+rm.srv.URL+"/images/"+baseUUID+"/file: ") ||
		!strings.HasSuffix(errOut, ": no space left on device\n") || strings.Contains(out, "Imported image") {
		t.Errorf("import into a full pool: exit %d\n%s%s", code, out, errOut)
	}
	rm.clean(baseUUID)
	var st unix.Statfs_t
	unix.Statfs(filepath.Join(rm.base, "pool"), &st)
	if free := st.Bfree * uint64(st.Bsize); free < 7<<20 {
		t.Errorf("%d bytes free after the failed import: space not given back", free)
	}
	rm.ok("import", "-q", otherUUID)
	rm.ok("delete", otherUUID)
}

// TestImportSameImageTwice: two imports of one image at once make it
// once; the one that waited for the image's lock says so, as SmartOS's
// imgadm does.
func TestImportSameImageTwice(t *testing.T) {
	rm := newRemote(t)
	rm.useSource()
	rm.publish(baseUUID, "base", "", "2024-01-01T00:00:00.000Z", tgz(map[string]string{"a": "a\n"}, "a"))
	// The file is slow to come: both imports are under way before either
	// has it.
	rm.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/file") {
			time.Sleep(200 * time.Millisecond)
		}
		return false
	})
	var wg sync.WaitGroup
	outs := make([]string, 2)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, out, errOut := rm.run("import", "-q", baseUUID)
			if code != 0 {
				t.Errorf("import %d: exit %d\n%s%s", i, code, out, errOut)
			}
			outs[i] = out
		}()
	}
	wg.Wait()
	all := outs[0] + outs[1]
	if strings.Count(all, "Imported image "+baseUUID) != 1 ||
		strings.Count(all, "Image "+baseUUID+" (base@1.0.0) was imported while waiting on lock\n")+
			strings.Count(all, "Image "+baseUUID+" (base 1.0.0) is already installed, skipping\n") != 1 {
		t.Errorf("two imports of one image:\n%s\n--\n%s", outs[0], outs[1])
	}
	if ds := rm.datasets(); len(ds) != 1 {
		t.Errorf("datasets: %v", ds)
	}
	rm.ok("delete", baseUUID)
}

// TestProgressBar: a bar on stderr while an image downloads when stderr
// is a terminal (here: forced), none with -q, none when it is not one.
func TestProgressBar(t *testing.T) {
	rm := newRemote(t)
	rm.useSource()
	rm.publish(baseUUID, "base", "", "2024-01-01T00:00:00.000Z", tgz(map[string]string{"a": strings.Repeat("x", 1<<20)}, "a"))
	for _, tt := range []struct {
		name     string
		progress *bool
		args     []string
		bar      bool
	}{
		{"terminal", ptr(true), []string{"import", baseUUID}, true},
		{"quiet", ptr(true), []string{"import", "-q", baseUUID}, false},
		{"no terminal", nil, []string{"import", baseUUID}, false},
	} {
		t.Run(strings.ReplaceAll(tt.name, " ", "-"), func(t *testing.T) {
			rm.env.Progress = tt.progress
			var o, e bytes.Buffer
			if code := Main(tt.args, &o, &e, rm.env); code != 0 {
				t.Fatalf("exit %d\n%s%s", code, &o, &e)
			}
			defer rm.ok("delete", baseUUID)
			bar := strings.Contains(e.String(), baseUUID[:8]) && strings.Contains(e.String(), "100%")
			if bar != tt.bar || (!tt.bar && e.Len() > 0) {
				t.Errorf("stderr %q, want a bar: %v", e.String(), tt.bar)
			}
			if strings.Contains(o.String(), "%") {
				t.Errorf("the bar is on stdout: %q", o.String())
			}
		})
	}
	rm.env.Progress = ptr(false)
}

func ptr[T any](v T) *T { return &v }
