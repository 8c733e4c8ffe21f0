package idmap

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// usernsCacheMax bounds the user namespaces kept open by UsernsFD. Each is
// a file descriptor and a few KiB of kernel memory.
const usernsCacheMax = 256

// usernses keeps the user namespace made for each range. A namespace is
// wholly defined by its mapping, so one made for a range serves every
// later owner of that range: a zone created where another was deleted,
// a zone booted again. Making one costs a fork of this whole process
// (Go does not vfork for CLONE_NEWUSER), whose copy-on-write faults
// then slow everything else the process does while a zone boots.
var usernses = struct {
	sync.Mutex
	m map[Range]*os.File
}{m: map[Range]*os.File{}}

// UsernsFD returns an open user namespace with the range's mapping (0 →
// HostID, uids and gids alike), for mounts that take one. The caller
// closes it; the namespace is kept for the range's next use.
func UsernsFD(r Range) (*os.File, error) {
	if f := cachedUserns(r); f != nil {
		return f, nil
	}
	// Made outside the lock: zones booting at once make theirs in
	// parallel.
	f, err := usernsFD(r)
	if err != nil {
		return nil, err
	}
	keepUserns(r, f)
	return f, nil
}

// Prewarm makes and keeps the range's user namespace, if it is not kept
// already, so that its first user finds it made.
func Prewarm(r Range) error {
	f, err := UsernsFD(r)
	if err != nil {
		return err
	}
	return f.Close()
}

// Kept reports whether the range's user namespace is made and kept.
func Kept(r Range) bool {
	usernses.Lock()
	defer usernses.Unlock()
	_, ok := usernses.m[r]
	return ok
}

// cachedUserns returns a new descriptor of the range's kept namespace, or
// nil.
func cachedUserns(r Range) *os.File {
	usernses.Lock()
	defer usernses.Unlock()
	f, ok := usernses.m[r]
	if !ok {
		return nil
	}
	d, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	return os.NewFile(uintptr(d), f.Name())
}

// keepUserns keeps a descriptor of f's namespace for range r, making room
// if the cache is full.
func keepUserns(r Range, f *os.File) {
	usernses.Lock()
	defer usernses.Unlock()
	if _, ok := usernses.m[r]; ok {
		return
	}
	d, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return
	}
	if len(usernses.m) >= usernsCacheMax {
		for k, old := range usernses.m { // any one
			old.Close()
			delete(usernses.m, k)
			break
		}
	}
	usernses.m[r] = os.NewFile(uintptr(d), f.Name())
}

// usernsFD makes a user namespace that maps 0..r.Size-1 to r.HostID..,
// uid and gid alike, and returns its /proc/<pid>/ns/user open.
//
// The namespace is made by a child process, which is the only way to have
// a user namespace with a chosen mapping without changing the caller's
// own. The child execs this very program (/proc/self/exe, which works
// even when the file was replaced) with PTRACE_TRACEME set, so it stops
// at the exec before running any code of its own: nothing depends on a
// helper binary, and nothing runs inside the namespace. Go's fork writes
// the maps before the child execs, so once ForkExec returns the mapping
// is in place. The child is killed and reaped before returning.
func usernsFD(r Range) (*os.File, error) {
	m := []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(r.HostID), Size: int(r.Size)}}
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"hull-userns"}, &syscall.ProcAttr{
		Env: []string{},
		Sys: &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER,
			UidMappings: m,
			GidMappings: m,
			Ptrace:      true,
			Pdeathsig:   syscall.SIGKILL,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("start user namespace holder: %w", err)
	}
	defer reap(pid)
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/ns/user")
	if err != nil {
		return nil, fmt.Errorf("open user namespace: %w", err)
	}
	return f, nil
}

// reap kills and waits for the namespace holder. __WALL also collects a
// child that is in a ptrace stop.
func reap(pid int) {
	_ = unix.Kill(pid, unix.SIGKILL)
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(pid, &ws, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || ws.Exited() || ws.Signaled() {
			return
		}
	}
}
