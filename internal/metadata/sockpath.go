package metadata

import (
	"net"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// maxSockPath is the room in sockaddr_un for a path (108 bytes with the
// terminating NUL).
const maxSockPath = 107

// viaDir runs f with a name for path that fits in a sockaddr_un: the path
// itself when short enough, else the socket's name under its directory
// opened as /proc/self/fd/N (node roots can be deep; zones' in-zone
// paths are always short).
func viaDir(path string, f func(name string) error) error {
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

func listenUnix(path string) (*net.UnixListener, error) {
	var ln *net.UnixListener
	err := viaDir(path, func(name string) (err error) {
		ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: name, Net: "unix"})
		return err
	})
	if err != nil {
		return nil, err
	}
	// The server removes the socket by its real path when it is done.
	ln.SetUnlinkOnClose(false)
	return ln, nil
}

func dialUnix(path string) (net.Conn, error) {
	var c net.Conn
	err := viaDir(path, func(name string) (err error) {
		c, err = net.DialTimeout("unix", name, NegotiateTimeout)
		return err
	})
	return c, err
}
