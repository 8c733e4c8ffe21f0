package storedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Lock takes the exclusive lock of the pool kept in store, shared by
// every process and goroutine using it (flock conflicts between separate
// opens). The kernel drops it when a process dies, so a crash never
// leaves the pool locked.
func Lock(store string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(store, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock pool: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock pool: %w", err)
	}
	return func() { f.Close() }, nil
}
