package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/pool"
	"hull/internal/vm"
	"hull/internal/zone"
)

// ArchiveDir is SmartOS's /zones/archive: when the operator makes it, a
// VM with archive_on_delete leaves its debug data there when deleted.
func (n *Node) ArchiveDir() string { return filepath.Join(n.Root, "zones", pool.Archive) }

// archiveItem is what one part of a VM's archive is made of: the files
// matching src (a glob under the zonepath) go into dir of the archive,
// or, with as set, the one match becomes the file as.
type archiveItem struct {
	src, dir, as string
}

// archiveItems lists what SmartOS's vmadm archives of a VM: its config/
// and cores/, and by brand the logs that tell what happened in it.
func archiveItems(v *vm.VM, stamp string) []archiveItem {
	items := []archiveItem{{src: "config", dir: "."}, {src: "cores", dir: "."}}
	switch {
	case zone.IsDocker(v):
		items = append(items,
			archiveItem{src: "logs/stdio.log.*", dir: "docker"},
			archiveItem{src: "logs/stdio.log", dir: "docker", as: "stdio.log." + stamp})
	case v.Brand == "lx":
		items = append(items, archiveItem{src: "root/var/log/triton.log", dir: "logs"})
	default:
		items = append(items,
			archiveItem{src: "root/var/svc/log/*", dir: "svclogs"},
			archiveItem{src: "root/var/adm/messages*", dir: "admmsgs"})
	}
	return items
}

// archive copies a VM's debug data to ArchiveDir()/<uuid> before its
// deletion, as SmartOS's vmadm does for archive_on_delete: vm.json (the
// VM as vmadm get shows it), zfs.dump (its datasets' properties, as
// zfs get -pH all prints them), its console log and the items of
// archiveItems. Nothing of it stops the deletion: it is skipped when the
// archive directory is not there, and a part that cannot be copied is
// left out; the errors are returned for the caller to report. A
// deletion run again after a crash copies again over what is there.
// Paths in the zone's dataset are resolved inside it: a zone's symlink
// never leads the copy out.
func (n *Node) archive(v *vm.VM) error {
	if st, err := os.Stat(n.ArchiveDir()); err != nil || !st.IsDir() {
		return nil
	}
	// A deletion finished after a crash may have destroyed the dataset
	// already, after archiving it.
	if ok, err := pool.Exists(n.Pool, dataset(v.UUID)); err == nil && !ok {
		return nil
	}
	dst := filepath.Join(n.ArchiveDir(), v.UUID)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("archive %s: %w", v.UUID, err)
	}
	var errs []error
	if b, err := json.MarshalIndent(v, "", "  "); err == nil {
		errs = append(errs, os.WriteFile(filepath.Join(dst, "vm.json"), append(b, '\n'), 0o644))
	}
	errs = append(errs, os.WriteFile(filepath.Join(dst, "zfs.dump"), zfsDump(n.vmDatasets(v.UUID)), 0o644))
	if err := os.MkdirAll(filepath.Join(dst, "console"), 0o755); err == nil {
		for _, name := range []string{v.UUID + ".log", v.UUID + ".log.0"} {
			// A docker zone's console log links to its stdio.log,
			// archived below.
			p := filepath.Join(n.runDir(), "console", name)
			if st, err := os.Lstat(p); err == nil && st.Mode().IsRegular() {
				errs = append(errs, zone.CopyTree(p, filepath.Join(dst, "console", name)))
			}
		}
	}
	if _, err := n.Pool.Mount(dataset(v.UUID)); err != nil {
		errs = append(errs, err)
		return fmt.Errorf("archive %s: %w", v.UUID, errors.Join(errs...))
	}
	root, err := os.OpenRoot(n.Zonepath(v.UUID))
	if err != nil {
		errs = append(errs, err)
		return fmt.Errorf("archive %s: %w", v.UUID, errors.Join(errs...))
	}
	defer root.Close()
	for _, it := range archiveItems(v, time.Now().UTC().Format(rotatedStamp)) {
		matches, _ := fs.Glob(root.FS(), it.src)
		if len(matches) == 0 {
			continue
		}
		dir := filepath.Join(dst, it.dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			errs = append(errs, err)
			continue
		}
		for _, m := range matches {
			to := filepath.Join(dir, path.Base(m))
			if it.as != "" {
				to = filepath.Join(dir, it.as)
			}
			errs = append(errs, copyIn(root, m, to))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("archive %s: %w", v.UUID, err)
	}
	return nil
}

// vmDatasets lists the pool's datasets and snapshots of a VM.
func (n *Node) vmDatasets(uuid string) []pool.Dataset {
	all, err := n.Pool.List()
	if err != nil {
		return nil
	}
	ds := dataset(uuid)
	var out []pool.Dataset
	for _, d := range all {
		if d.Name == ds || strings.HasPrefix(d.Name, ds+"@") || strings.HasPrefix(d.Name, ds+"/") || strings.HasPrefix(d.Name, ds+"-disk") {
			out = append(out, d)
		}
	}
	return out
}

// zfsDump renders datasets' properties as `zfs get -pH all` prints them:
// name, property, value and source, tab-separated.
func zfsDump(ds []pool.Dataset) []byte {
	var b strings.Builder
	num := func(v int64) string {
		if v < 0 {
			return "-"
		}
		return strconv.FormatInt(v, 10)
	}
	for _, d := range ds {
		kind := "filesystem"
		if strings.Contains(d.Name, "@") {
			kind = "snapshot"
		}
		quota, source := "0", "default"
		if d.Quota > 0 {
			quota, source = strconv.FormatInt(d.Quota, 10), "local"
		}
		mountpoint := d.Mountpoint
		if mountpoint == "" {
			mountpoint = "-"
		}
		origin := d.Origin
		if origin == "" {
			origin = "-"
		}
		for _, p := range [][3]string{
			{"type", kind, "-"},
			{"creation", num(d.Created), "-"},
			{"used", num(d.Used), "-"},
			{"referenced", num(d.Refer), "-"},
			{"refquota", quota, source},
			{"mountpoint", mountpoint, "default"},
			{"origin", origin, "-"},
		} {
			fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", d.Name, p[0], p[1], p[2])
		}
	}
	return []byte(b.String())
}

// copyIn copies rel (a file, symlink or tree) from inside root to dst,
// as cp -RP: a symlink is copied as one; devices, sockets and FIFOs are
// left out.
func copyIn(root *os.Root, rel, dst string) error {
	st, err := root.Lstat(rel)
	if err != nil {
		return err
	}
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		t, err := root.Readlink(rel)
		if err != nil {
			return err
		}
		os.Remove(dst)
		return os.Symlink(t, dst)
	case st.IsDir():
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		ents, err := fs.ReadDir(root.FS(), rel)
		if err != nil {
			return err
		}
		var errs []error
		for _, e := range ents {
			errs = append(errs, copyIn(root, path.Join(rel, e.Name()), filepath.Join(dst, e.Name())))
		}
		return errors.Join(errs...)
	case st.Mode().IsRegular():
		in, err := root.OpenFile(rel, os.O_RDONLY|unix.O_NOFOLLOW, 0)
		if err != nil {
			return err
		}
		defer in.Close()
		// Made anew, never written through what is at dst: a symlink
		// copied by an earlier run may point anywhere.
		os.Remove(dst)
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o644)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, in)
		return errors.Join(err, out.Close())
	}
	return nil
}
