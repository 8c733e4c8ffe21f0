package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"hull/internal/pool"
	"hull/internal/pool/stream"
	"hull/internal/vm"
)

// Send writes the VM as a stream (see internal/pool/stream): its object,
// then the whole content of its dataset, so the receiving node needs
// neither the image it was cloned from nor anything else. A running VM is
// stopped first and left stopped, as SmartOS's send does; its autoboot is
// cleared so that the sent and the received copy do not both come up.
// Send changes nothing else: a crash or a broken pipe leaves the VM as it
// was (the receiver rejects the incomplete stream).
func (n *Node) Send(ctx context.Context, uuid string, w io.Writer) error {
	v, unlock, err := n.lockedVM(uuid)
	if err != nil {
		return err
	}
	defer unlock()
	if r, _ := n.loadRun(uuid); r.alive() {
		if vm.Bool(v.Autoboot, true) {
			v.Autoboot = ptr(false)
			if err := n.saveVM(v); err != nil {
				return err
			}
		}
		if err := n.stop(ctx, v, false, 0); err != nil && !errors.Is(err, ErrNotRunning) {
			return fmt.Errorf("unable to stop VM %s: %w", uuid, err)
		}
		n.emit("modify", v, []Change{{Path: "state", Action: "changed", Old: "running", New: "stopped"}})
	}
	ds, err := n.Pool.Mount(dataset(uuid))
	if err != nil {
		if errors.Is(err, pool.ErrNotFound) {
			return errors.New("VM has no datasets.")
		}
		return fmt.Errorf("mount dataset of %s: %w", uuid, err)
	}
	n.fillFrom(v, nil)
	v.Snapshots = nil // vmsnaps stay behind, as with SmartOS
	obj, err := vm.JSON(v)
	if err != nil {
		return err
	}
	sw := stream.NewWriter(w)
	if err := sw.JSON(obj); err != nil {
		return err
	}
	failpoint("send/after-json")
	if err := sendDataset(sw, dataset(uuid), ds.Mountpoint); err != nil {
		return err
	}
	failpoint("send/after-pack")
	if hasDelegated(v) {
		dd, err := n.Pool.Mount(delegated(uuid))
		if err != nil {
			return fmt.Errorf("mount dataset %s: %w", delegated(uuid), err)
		}
		if err := sendDataset(sw, delegated(uuid), dd.Mountpoint); err != nil {
			return err
		}
	}
	return sw.Close()
}

// sendDataset writes one dataset's content (not that of datasets mounted
// in it) into the stream.
func sendDataset(sw *stream.Writer, name, dir string) error {
	dw, err := sw.Dataset(name)
	if err != nil {
		return err
	}
	if err := stream.Pack(dir, dw); err != nil {
		return fmt.Errorf("send dataset %s: %w", name, err)
	}
	return dw.Close()
}

// Receive recreates a VM, with the same uuid, from a stream made by Send
// on another node. It is all or nothing: the VM object is written only
// once every chunk of the stream has been read and verified, and the
// journal removes the new dataset if anything fails or the process dies
// before that. The VM arrives stopped.
func (n *Node) Receive(ctx context.Context, r io.Reader) (*vm.VM, error) {
	sr := stream.NewReader(r)
	obj, err := sr.JSON()
	if err != nil {
		return nil, fmt.Errorf("unable to receive JSON: %w", err)
	}
	v, err := receivedVM(obj)
	if err != nil {
		return nil, err
	}
	uuid := v.UUID
	v.Zonepath = n.Zonepath(uuid)
	want := datasetsOf(v) // the datasets the stream must hold, in order
	if hasDelegated(v) {
		if err := n.needChildDatasets("receive " + uuid + ": its delegated dataset"); err != nil {
			return nil, err
		}
	}
	unlock, err := n.lock(uuid)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := os.Stat(n.vmFile(uuid)); err == nil {
		return nil, fmt.Errorf("VM with uuid %s already exists", uuid)
	}
	if ok, err := pool.Exists(n.Pool, dataset(uuid)); err != nil || ok {
		if err == nil {
			err = fmt.Errorf("dataset %s already exists", dataset(uuid))
		}
		return nil, err
	}
	op, err := n.Journal.Begin("receive", uuid)
	if err != nil {
		return nil, err
	}
	defer op.Rollback()
	for _, ds := range want { // undone in reverse: children first
		if err := op.Undo("dataset", ds); err != nil {
			return nil, err
		}
	}
	// Until it is in, the VM is listed "receiving" (shown.go).
	shown := n.receivingFile(uuid)
	if err := op.Undo("file", shown); err != nil {
		return nil, err
	}
	defer os.Remove(shown)
	if err := n.showReceiving(v); err != nil {
		return nil, err
	}
	received := 0
	for {
		name, dr, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("receive %s: %w", uuid, err)
		}
		// A stream names datasets in its sender's pool.
		_, rest, _ := strings.Cut(name, "/")
		if received == len(want) || PoolName+"/"+rest != want[received] {
			return nil, fmt.Errorf("receive %s: unexpected dataset %q in stream", uuid, name)
		}
		if err := n.receiveDataset(v, want[received], dr); err != nil {
			return nil, fmt.Errorf("receive %s: %w", uuid, err)
		}
		received++
	}
	if received == 0 {
		return nil, fmt.Errorf("receive %s: the stream holds no dataset", uuid)
	}
	if received < len(want) {
		return nil, fmt.Errorf("receive %s: the stream lacks dataset %s", uuid, want[received])
	}
	failpoint("receive/before-config")
	if err := op.Undo("file", n.vmFile(uuid)); err != nil {
		return nil, err
	}
	if err := n.saveVM(v); err != nil {
		return nil, err
	}
	failpoint("receive/after-config")
	if err := op.Commit(); err != nil {
		return nil, err
	}
	n.emit("create", v, nil)
	return n.Get(uuid)
}

// receiveDataset makes one of the VM's datasets and fills it from the
// stream, reading its content to the end so that its checksum is
// verified.
func (n *Node) receiveDataset(v *vm.VM, ds string, content io.Reader) error {
	d, err := n.Pool.Create(ds)
	if err != nil {
		return fmt.Errorf("create dataset %s: %w", ds, err)
	}
	failpoint("receive/after-create")
	// Compressed as on the sender, from the first byte written.
	if err := n.setCompression(ds, compressionOf(v, ds)); err != nil {
		return err
	}
	if err := stream.Unpack(content, d.Mountpoint); err != nil {
		return err
	}
	failpoint("receive/after-unpack")
	if _, err := io.Copy(io.Discard, content); err != nil {
		return err
	}
	return n.setQuota(ds, quotaBytes(v))
}

// receivedVM decodes the object of a stream and keeps what belongs to the
// VM rather than to the node it came from.
func receivedVM(obj []byte) (*vm.VM, error) {
	var v vm.VM
	if err := json.Unmarshal(obj, &v); err != nil {
		return nil, fmt.Errorf("unable to receive JSON: %w", err)
	}
	if !ValidUUID(v.UUID) {
		return nil, errors.New("unable to receive JSON: no valid uuid")
	}
	if vm.BrandType(v.Brand) == "" {
		return nil, fmt.Errorf("unable to receive JSON: unknown brand %q", v.Brand)
	}
	v.State, v.ZoneState, v.PID, v.ZoneID, v.BootTimestamp = "", "", 0, 0, ""
	v.ExitStatus, v.ExitTimestamp, v.Snapshots = nil, "", nil
	v.Zpool, v.ZFSFilesystem = PoolName, dataset(v.UUID)
	if len(v.Datasets) > 0 {
		v.Datasets = []string{delegated(v.UUID)} // the only kind there is
	}
	return &v, nil
}
