package metadata

import (
	"net"

	"hull/internal/metadata/protocol"
)

func listenUnix(path string) (*net.UnixListener, error) {
	var ln *net.UnixListener
	err := protocol.ViaDir(path, func(name string) (err error) {
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
