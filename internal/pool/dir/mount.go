package dir

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
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

// unmount removes every mount stacked on target. With detach, a busy
// mount is detached lazily (callers use it when the dataset's content is
// about to be thrown away or replaced); without, EBUSY is returned.
func unmount(target string, detach bool) error {
	for range 64 {
		err := unix.Unmount(target, unix.UMOUNT_NOFOLLOW)
		if errors.Is(err, unix.EBUSY) && detach {
			err = unix.Unmount(target, unix.UMOUNT_NOFOLLOW|unix.MNT_DETACH)
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil // not (or no longer) a mount point
		default:
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
	return fmt.Errorf("unmount %s: too many stacked mounts", target)
}

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	Target string
	FSType string
	Upper  string // overlay upperdir, "" otherwise
}

func readMounts() ([]mountEntry, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	var out []mountEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			continue
		}
		m := mountEntry{Target: unescape(f[4]), FSType: g[0]}
		if m.FSType == "overlay" {
			for _, o := range strings.Split(g[2], ",") {
				if v, ok := strings.CutPrefix(o, "upperdir="); ok {
					m.Upper = unescape(v)
				}
			}
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// unescape undoes the kernel's octal escapes (\040 for space, …).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctal(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}
