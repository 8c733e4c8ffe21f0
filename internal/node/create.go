package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"hull/internal/idmap"
	"hull/internal/image"
	"hull/internal/journal"
	"hull/internal/pool"
	"hull/internal/vm"
	"hull/internal/zone"
)

// registerUndos names every undo step the node records, so recovery in a
// fresh process can run them.
func (n *Node) registerUndos() {
	ctx := context.Background()
	n.Journal.Handle("ids", func(a []string) error { return n.IDs.Free(a[0]) })
	n.handlePrepare(ctx)
	n.Journal.Handle("hostconf", func(a []string) error {
		v, err := n.loadVM(a[0])
		if err != nil || !zone.IsDocker(v) {
			return nil // gone, or no longer docker: nothing to write
		}
		return n.rewriteHostConf(v)
	})
	n.Journal.Handle("dataset", func(a []string) error {
		err := n.Pool.Destroy(a[0])
		if errors.Is(err, pool.ErrNotFound) {
			return nil
		}
		return err
	})
	n.Journal.Handle("mount", func(a []string) error {
		_, err := n.Pool.Mount(a[0])
		if errors.Is(err, pool.ErrNotFound) {
			return nil
		}
		return err
	})
	n.Journal.Handle("file", func(a []string) error {
		err := os.Remove(a[0])
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	})
	n.Journal.Handle("container", func(a []string) error { return n.cleanupContainer(ctx, a[0]) })
	n.Journal.Handle("leases", func(a []string) error { return n.releaseNetworks(a) })
	n.Journal.Handle("vm", func(a []string) error {
		var v vm.VM
		if err := json.Unmarshal([]byte(a[1]), &v); err != nil {
			return err
		}
		return n.saveVM(&v)
	})
	n.Journal.Handle("storage", func(a []string) error {
		v, err := n.loadVM(a[0])
		if err != nil {
			return nil // gone: nothing to restore
		}
		return n.applyStorage(v)
	})
	n.Journal.Handle("nics", func(a []string) error {
		v, err := n.loadVM(a[0])
		if err != nil {
			return nil
		}
		if r, _ := n.loadRun(a[0]); r.alive() {
			return n.replumb(v, r.PID)
		}
		return nil
	})
	n.Journal.Handle("live", func(a []string) error {
		v, err := n.Get(a[0])
		if err != nil || v.State != "running" {
			return nil
		}
		return n.applyLive(ctx, v)
	})
}

// finish completes a forward operation (delete, rollback-snapshot,
// reprovision) that a crashed process left half-done.
func (n *Node) finish(rec journal.Record) error {
	switch rec.Op {
	case "delete":
		return n.deleteSteps(context.Background(), rec.Subject)
	case "rollback-snapshot":
		return n.finishRollback(rec)
	case "reprovision":
		return n.finishReprovision(rec)
	}
	return nil
}

// Create makes a VM from a create payload: validated and defaulted like
// SmartOS, its dataset cloned from the image, and booted when autoboot is
// set. Any failure, or a crash at any point, leaves no trace.
func (n *Node) Create(ctx context.Context, payload []byte) (*vm.VM, error) {
	st := startSteps("create")
	payload, err := n.fillNetworkTags(payload)
	if err != nil {
		return nil, err
	}
	v, err := vm.NormalizeCreate(payload, time.Now())
	if err != nil {
		return nil, err
	}
	st.mark("normalize")
	// As SmartOS: a VM is on the node's pool, and its image is installed
	// there, or the payload has an invalid value.
	if v.Zpool != "" && v.Zpool != PoolName {
		return nil, &vm.ValidationError{BadValues: []string{"zpool"}}
	}
	if err := n.checkDelegate(v); err != nil {
		return nil, err
	}
	if v.ImageUUID != "" {
		img, err := n.Images.Get(v.ImageUUID)
		if err != nil {
			if errors.Is(err, image.ErrNotInstalled) {
				return nil, &vm.ValidationError{BadValues: []string{"image_uuid"}}
			}
			return nil, err
		}
		if !slices.Contains(zonerootTypes(v.Brand, vm.Bool(v.Docker, false)), img.Manifest.Type) {
			return nil, &vm.ValidationError{BadValues: []string{"image_uuid"}}
		}
		if vm.Bool(v.Docker, false) {
			// A docker zone runs its image's entrypoint, cmd, env, workdir
			// and user unless the payload says otherwise, as SmartOS's
			// docker API fills them in.
			for k, val := range image.DockerInternalMetadata(img.Manifest) {
				if _, ok := v.InternalMetadata[k]; !ok {
					if v.InternalMetadata == nil {
						v.InternalMetadata = map[string]string{}
					}
					v.InternalMetadata[k] = val
				}
			}
			n.hostVolumes(v)
		}
	}
	if len(v.Nics) > 0 {
		if err := n.networksUp(v); err != nil {
			return nil, err
		}
	}
	if err := n.checkNicTags(v); err != nil {
		return nil, err
	}
	release, err := n.reserveNICs(v)
	if err != nil {
		return nil, err
	}
	defer release()
	st.mark("image")
	v.Zonepath = n.Zonepath(v.UUID)
	unlock, err := n.lock(v.UUID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := os.Stat(n.vmFile(v.UUID)); err == nil {
		return nil, fmt.Errorf("VM with UUID %s already exists", v.UUID)
	}
	st.mark("lock")
	// Every undo is registered with the operation, in one write, before
	// any step: each undo is a no-op for a step not yet done.
	op, err := n.Journal.Begin("create", v.UUID,
		journal.Step{Kind: "ids", Args: []string{v.UUID}},
		journal.Step{Kind: "dataset", Args: []string{dataset(v.UUID)}},
		journal.Step{Kind: "dataset", Args: []string{delegated(v.UUID)}}, // undone first
		journal.Step{Kind: "file", Args: []string{n.vmFile(v.UUID)}},
		journal.Step{Kind: "container", Args: []string{v.UUID}},
		journal.Step{Kind: "leases", Args: nicMACs(v)},
	)
	if err != nil {
		return nil, err
	}
	defer op.Rollback()
	st.mark("journal")
	// While the dataset is cloned: a zone that boots at once has its
	// runtime launched (it starts up meanwhile, see zone.Launch), and its
	// id range allocated and the user namespace that maps its root made.
	boots := vm.Bool(v.Autoboot, true)
	var launched func() (*zone.Launch, error)
	launch := func() {
		launched = background(func() (*zone.Launch, error) { return n.launch(ctx, v) })
	}
	defer func() {
		if launched == nil {
			return
		}
		if l, err := launched(); err == nil {
			l.Abort() // nothing, once the zone runs
		}
	}()
	// A docker zone's log is in its dataset: its runtime, which gets the
	// log as its output, is launched once the dataset is there.
	launchFirst := boots && !zone.IsDocker(v)
	if launchFirst {
		launch()
	}
	userns := background(func() (*os.File, error) {
		rng, err := n.IDs.Allocate(v.UUID)
		if err != nil {
			return nil, err
		}
		failpoint("create/after-ids")
		if !boots {
			return nil, nil
		}
		return idmap.UsernsFD(rng)
	})
	defer func() {
		if f, err := userns(); err == nil && f != nil {
			f.Close()
		}
	}()
	// Addresses (and resolvers) from managed networks come before the
	// dataset: its /etc/hosts and resolv.conf are written from them.
	if len(v.Nics) > 0 {
		err = n.assignNetworks(v)
	}
	if err == nil {
		err = n.makeDataset(v)
	}
	_, uerr := userns()
	if err := errors.Join(err, uerr); err != nil {
		return nil, err
	}
	failpoint("create/after-clone")
	st.mark("ids+dataset")
	if boots && !launchFirst {
		launch()
	}
	// The dataset's own files and properties are written while the
	// zone's boot is prepared; they are there before its root is mapped.
	// Waited for before any return, so that no undo races them.
	filled := backgroundErr(func() error {
		if err := n.fillDataset(v); err != nil {
			return err
		}
		return n.writeHostsAddress(v)
	})
	defer filled()
	// The VM object is written while the zone's boot is prepared (its
	// undo is in the journal already); it is durable before the zone
	// runs, and so before anything inside can ask for it.
	b, err := vmBytes(v)
	if err != nil {
		return nil, err
	}
	saved := backgroundErr(func() error {
		err := writeFileAtomic(n.vmFile(v.UUID), b, 0o600)
		if err == nil {
			failpoint("create/after-config")
		}
		return err
	})
	defer saved()
	ready := func() error { return errors.Join(filled(), saved()) }
	if boots {
		if err := n.start(ctx, v, op, startOptions{fresh: true, beforeMap: filled, beforeRun: saved, launch: launched, userns: userns}); err != nil {
			return nil, fmt.Errorf("boot %s: %w", v.UUID, err)
		}
		failpoint("create/after-start")
		st.mark("start")
	}
	if err := ready(); err != nil {
		return nil, err
	}
	st.mark("config")
	if err := op.Commit(); err != nil {
		return nil, err
	}
	st.mark("commit")
	n.emit("create", v, nil)
	n.fill(v)
	st.mark("emit+fill")
	return v, nil
}

// makeDataset creates the VM's dataset: a clone of its image's @final
// snapshot, or for the sparse brand a new dataset with the zone's own
// trees; fillDataset does the rest.
func (n *Node) makeDataset(v *vm.VM) error {
	ds := dataset(v.UUID)
	var err error
	if v.ImageUUID != "" {
		_, err = n.Pool.Clone(image.SnapshotName(v.ImageUUID), ds)
	} else {
		_, err = n.Pool.Create(ds)
	}
	if err != nil {
		return fmt.Errorf("create dataset %s: %w", ds, err)
	}
	if err := n.makeDelegated(v); err != nil {
		return err
	}
	zp := n.Zonepath(v.UUID)
	root := filepath.Join(zp, "root")
	if v.Brand == "sparse" {
		if err := zone.Skeleton(root); err != nil {
			return err
		}
	}
	return makeRoot(zp)
}

// makeRoot makes the zonepath's root/. The zone's root user (through the
// idmapped mount) must be able to traverse the zonepath; the dataset's
// other directories stay host-only.
func makeRoot(zp string) error {
	if err := os.MkdirAll(filepath.Join(zp, "root"), 0o755); err != nil {
		return err
	}
	os.Chmod(zp, 0o711)
	return nil
}

// fillDataset writes what SmartOS writes at install into the VM's new
// dataset: the zonepath's directories, hostname, hosts and resolv.conf,
// and its quota and compression.
func (n *Node) fillDataset(v *vm.VM) error {
	zp := n.Zonepath(v.UUID)
	root := filepath.Join(zp, "root")
	for _, d := range []string{"config", "cores", "logs"} {
		if err := os.MkdirAll(filepath.Join(zp, d), 0o700); err != nil {
			return err
		}
	}
	if zone.IsDocker(v) {
		if err := n.writeHostConf(v, true); err != nil {
			return err
		}
	} else if err := writeIdentity(root, v); err != nil {
		return err
	}
	if err := linkZoneTools(v, root); err != nil {
		return err
	}
	return n.applyStorage(v)
}

// writeIdentity writes the zone's /etc/hostname, hosts and resolv.conf
// (zone.IdentityFiles) into its root, resolved inside it: an image's
// /etc, or the files, may be symlinks, and none may lead the host out of
// the zone. A symlink in a file's place is replaced; an image without
// /etc gets one.
func writeIdentity(root string, v *vm.VM) error {
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	for name, content := range zone.IdentityFiles(zone.Hostname(v), v.DNSDomain, v.Resolvers) {
		if err := editZoneFile(root, "etc/"+name, func([]byte) []byte { return []byte(content) }); err != nil {
			return err
		}
	}
	return nil
}

// applyStorage sets the dataset properties the VM object carries on its
// dataset and its delegated one: quota (GiB, 0 for none; each of the two
// gets it) and zfs_root_compression / zfs_data_compression.
func (n *Node) applyStorage(v *vm.VM) error {
	for _, ds := range datasetsOf(v) {
		if err := n.setQuota(ds, quotaBytes(v)); err != nil {
			return err
		}
		if err := n.setCompression(ds, compressionOf(v, ds)); err != nil {
			return err
		}
	}
	return nil
}

// datasetsOf names the VM's dataset and its delegated one, parent first.
func datasetsOf(v *vm.VM) []string {
	if hasDelegated(v) {
		return []string{dataset(v.UUID), delegated(v.UUID)}
	}
	return []string{dataset(v.UUID)}
}

// compressionOf is the zfs compression value the VM asks for on one of its
// datasets.
func compressionOf(v *vm.VM, ds string) string {
	if ds == delegated(v.UUID) {
		return v.ZFSDataCompression
	}
	return v.ZFSRootCompression
}

// quotaBytes is the VM's quota in bytes, 0 for none.
func quotaBytes(v *vm.VM) int64 {
	if v.Quota == nil {
		return 0
	}
	return *v.Quota << 30
}

// setQuota sets a dataset's quota (bytes, 0 for none) where the pool can.
func (n *Node) setQuota(ds string, bytes int64) error {
	if err := n.Pool.SetQuota(ds, bytes); err != nil && !errors.Is(err, pool.ErrNotSupported) {
		return fmt.Errorf("quota on %s: %w", ds, err)
	}
	return nil
}

// setCompression sets a dataset's compression (a zfs value, "" to leave
// it) where the pool can.
func (n *Node) setCompression(ds, zfs string) error {
	if c, ok := n.Pool.(interface{ SetCompression(string, string) error }); ok && zfs != "" {
		if err := c.SetCompression(ds, zfs); err != nil {
			return fmt.Errorf("compression on %s: %w", ds, err)
		}
	}
	return nil
}

// zonerootTypes are the image types a zone of brand can have as its root,
// as SmartOS's brands list them (an image of another type is an invalid
// image_uuid): zone-dataset for joyent and joyent-minimal, lx-dataset
// and docker for lx. hull also runs docker images in joyent-minimal
// zones with "docker": true, and a zone-dataset as an lx zone (its own
// /sbin/init as PID 1).
func zonerootTypes(brand string, docker bool) []string {
	switch brand {
	case "lx":
		return []string{"lx-dataset", "docker", "zone-dataset"}
	case "joyent", "joyent-minimal":
		if docker {
			return []string{"docker", "zone-dataset"}
		}
		return []string{"zone-dataset"}
	}
	return nil
}
