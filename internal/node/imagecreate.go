package node

import (
	"fmt"
	"path/filepath"
)

// ImageSource is a stopped VM's files as `imgadm create` reads them.
type ImageSource struct {
	Root      string // the VM's root filesystem (its dataset's root/)
	Brand     string
	ImageUUID string // the image the VM was created from, "" for none
}

// ImageSource holds the VM's lock, so that it cannot be started while an
// image is made of it, and returns its files; release ends the hold. The
// VM must be stopped, as SmartOS requires without a prepare script.
func (n *Node) ImageSource(uuid string) (src *ImageSource, release func(), err error) {
	if !ValidUUID(uuid) {
		return nil, nil, fmt.Errorf("invalid uuid: %q", uuid)
	}
	unlock, err := n.lock(uuid)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			unlock()
		}
	}()
	v, err := n.Get(uuid)
	if err != nil {
		return nil, nil, err
	}
	if v.State != "stopped" {
		return nil, nil, fmt.Errorf("vm %q is not stopped (state: %s)", uuid, v.State)
	}
	return &ImageSource{
		Root:      filepath.Join(n.Zonepath(uuid), "root"),
		Brand:     v.Brand,
		ImageUUID: v.ImageUUID,
	}, unlock, nil
}
