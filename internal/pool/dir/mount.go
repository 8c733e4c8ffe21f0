package dir

import (
	"errors"
	"fmt"
	"hull/internal/pool"
	"hull/internal/pool/mounts"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// overlayOptions keep every layer self-contained: a former upper can become
// a lower layer, or be copied, without xattrs that point into other layers
// (redirect_dir, metacopy) or an index tied to one upper. None of them
// forbids an idmapped mount of the overlay (kernel >= 5.19).
var overlayOptions = [][2]string{
	{"index", "off"},
	{"xino", "off"},
	{"redirect_dir", "off"},
	{"metacopy", "off"},
}

// mountOverlay mounts an overlay of lowers (topmost first) under upper at
// target. It uses the new mount API with one "lowerdir+" per layer (no
// page-size limit on the option string, kernel >= 6.8) and falls back to
// mount(2) with a lowerdir list on older kernels.
func mountOverlay(target string, lowers []string, upper, work string) error {
	err := fsmountOverlay(target, lowers, upper, work)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, errLowerdirPlus) {
		err = legacyMountOverlay(target, lowers, upper, work)
	}
	if err != nil {
		return fmt.Errorf("mount overlay at %s: %w", target, err)
	}
	return nil
}

var errLowerdirPlus = errors.New("kernel does not take lowerdir+")

func fsmountOverlay(target string, lowers []string, upper, work string) error {
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for _, l := range lowers {
		if err := unix.FsconfigSetString(fd, "lowerdir+", l); err != nil {
			if errors.Is(err, unix.EINVAL) && l == lowers[0] {
				return errLowerdirPlus
			}
			return fsError(fd, "lowerdir+", err)
		}
	}
	set := [][2]string{{"upperdir", upper}, {"workdir", work}}
	for _, kv := range append(set, overlayOptions...) {
		if err := unix.FsconfigSetString(fd, kv[0], kv[1]); err != nil {
			return fsError(fd, kv[0], err)
		}
	}
	if err := unix.FsconfigCreate(fd); err != nil {
		return fsError(fd, "create", err)
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fsError(fd, "fsmount", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

// fsError adds the kernel's own explanation, which the fs context keeps
// for reading from its fd, to a failed fsconfig step.
func fsError(fd int, step string, err error) error {
	var msgs []string
	buf := make([]byte, 1024)
	for range 8 {
		n, rerr := unix.Read(fd, buf)
		if rerr != nil || n <= 0 {
			break
		}
		msgs = append(msgs, strings.TrimSpace(string(buf[:n])))
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%s: %w (%s)", step, err, strings.Join(msgs, "; "))
	}
	return fmt.Errorf("%s: %w", step, err)
}

func legacyMountOverlay(target string, lowers []string, upper, work string) error {
	opts := []string{
		"lowerdir=" + strings.Join(lowers, ":"),
		"upperdir=" + upper,
		"workdir=" + work,
	}
	for _, kv := range overlayOptions {
		opts = append(opts, kv[0]+"="+kv[1])
	}
	data := strings.Join(opts, ",")
	if len(data) >= os.Getpagesize() {
		return fmt.Errorf("%d layers do not fit in one mount option string", len(lowers))
	}
	return unix.Mount("overlay", target, "overlay", 0, data)
}

// Mount mounts the dataset if it is not already (after a reboot, or an
// Unmount) and remembers that it should stay mounted.
func (d *Driver) Mount(full string) (_ *pool.Dataset, err error) {
	name, err := pool.ParseDataset(d.pool, full, "mount", "mount "+full+": snapshots have no mountpoint")
	if err != nil {
		return nil, err
	}
	rs, done, err := d.begin()
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", full, err)
	}
	defer func() { done(false) }()
	r := rs.byName(name)
	if r == nil {
		return nil, fmt.Errorf("mount: %w", pool.NotFound(full))
	}
	if !r.Mounted {
		r.Mounted = true
		if err := d.save(r); err != nil {
			return nil, fmt.Errorf("mount %s: %w", full, err)
		}
	}
	if err := d.mount(r); err != nil {
		return nil, fmt.Errorf("mount %s: %w", full, err)
	}
	return d.describe(rs, r, nil, false), nil
}

// Unmount unmounts the dataset (fails with EBUSY while it is in use) and
// remembers that it should stay unmounted.
func (d *Driver) Unmount(full string) (err error) {
	name, err := pool.ParseDataset(d.pool, full, "unmount", "unmount "+full+": snapshots have no mountpoint")
	if err != nil {
		return err
	}
	rs, done, err := d.begin()
	if err != nil {
		return fmt.Errorf("unmount %s: %w", full, err)
	}
	defer func() { done(false) }()
	r := rs.byName(name)
	if r == nil {
		return fmt.Errorf("unmount: %w", pool.NotFound(full))
	}
	if r.Mounted {
		r.Mounted = false
		if err := d.save(r); err != nil {
			return fmt.Errorf("unmount %s: %w", full, err)
		}
	}
	if err := mounts.Unmount(d.mountpoint(name), false); err != nil {
		return fmt.Errorf("unmount %s: %w", full, err)
	}
	return nil
}

// mount mounts r at its mountpoint unless it is there already; whatever
// else is mounted there (a stale view) is taken down first.
func (d *Driver) mount(r *record) error {
	table, err := mounts.Read()
	if err != nil {
		return err
	}
	target := d.mountpoint(r.Name)
	if top := mounts.TopAt(table, target); top != nil {
		if top.Upper == d.layerPath(r.Upper) {
			return nil
		}
		if err := mounts.Unmount(target, true); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(d.workPath(r.Upper), 0o700); err != nil {
		return err
	}
	return mountOverlay(target, d.lowers(r), d.layerPath(r.Upper), d.workPath(r.Upper))
}
