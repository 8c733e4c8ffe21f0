package protocol

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// maxSockPath is the room in sockaddr_un for a path (108 bytes with the
// terminating NUL).
const maxSockPath = 107

// ViaDir runs f with a name for path that fits in a sockaddr_un: the path
// itself when short enough, else the socket's name under its directory
// opened as /proc/self/fd/N (node roots can be deep; zones' in-zone
// paths are always short).
func ViaDir(path string, f func(name string) error) error {
	if len(path) <= maxSockPath {
		return f(path)
	}
	fd, err := unix.Open(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: filepath.Dir(path), Err: err}
	}
	defer unix.Close(fd)
	return f("/proc/self/fd/" + strconv.Itoa(fd) + "/" + filepath.Base(path))
}

func dialUnix(path string) (net.Conn, error) {
	var c net.Conn
	err := ViaDir(path, func(name string) (err error) {
		c, err = net.DialTimeout("unix", name, NegotiateTimeout)
		return err
	})
	return c, err
}

// Deadliner is a stream whose reads and writes can time out (a socket,
// a pty).
type Deadliner interface {
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}
