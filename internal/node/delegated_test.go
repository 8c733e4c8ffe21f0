package node

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"hull/internal/pool"
)

// TestDelegatedDataset: a zone with delegate_dataset has its own dataset
// at /zones/<uuid>/data, owned by its root, limited by its quota, kept
// across reprovision, sent with it, and deleted with it unless made
// indestructible.
func TestDelegatedDataset(t *testing.T) {
	n := newNodeWithConfig(t, "pool_driver=btrfs\n")
	installOther(t, n)
	ctx := context.Background()
	uuid := create(t, n, `{"brand":"joyent-minimal","quota":1,"delegate_dataset":true,
		"zfs_data_compression":"lz4","image_uuid":"`+BusyboxUUID+`"}`)
	v := mustGet(t, n, uuid)
	if want := []string{PoolName + "/" + uuid + "/data"}; !slices.Equal(v.Datasets, want) || v.DelegateDataset != nil {
		t.Fatalf("datasets %v (delegate_dataset %v), want %v", v.Datasets, v.DelegateDataset, want)
	}
	d, err := n.Pool.Get(delegated(uuid))
	if err != nil || d.Quota != 1<<30 || d.Mountpoint != filepath.Join(n.Zonepath(uuid), "data") {
		t.Fatalf("delegated dataset %+v %v", d, err)
	}
	buf := make([]byte, 16)
	if k, err := syscall.Getxattr(d.Mountpoint, "btrfs.compression", buf); err != nil || string(buf[:k]) != "lzo" {
		t.Errorf("zfs_data_compression lz4: the dataset's compression is %q, %v", buf[:max(k, 0)], err)
	}
	in := "/zones/" + uuid + "/data"
	if got := mustExec(t, n, uuid, "echo kept > "+in+"/f && mkdir "+in+"/d && stat -c %u:%a "+in); got != "0:755" {
		t.Errorf("the zone sees its dataset as %q, want root's", got)
	}
	if st, err := os.Stat(filepath.Join(d.Mountpoint, "f")); err != nil || st.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("on disk the zone's root is uid 0: %v %v", st, err)
	}
	// The quota holds in the delegated dataset too.
	if out, err := zexec(t, n, uuid, "dd if=/dev/urandom of="+in+"/big bs=1M count=1100 conv=fsync 2>&1"); err == nil {
		t.Errorf("1100 MiB written into a dataset of a 1 GiB quota: %s", out)
	}
	mustExec(t, n, uuid, "rm "+in+"/big")

	// create-snapshot is refused with datasets, as SmartOS refuses it.
	if err := n.CreateSnapshot(ctx, uuid, "s"); err == nil || err.Error() != "Cannot currently snapshot zones that have datasets" {
		t.Errorf("snapshot: %v", err)
	}

	// Reprovision replaces the root, not the data.
	mustExec(t, n, uuid, "echo gone > /root/mine")
	if err := n.Reprovision(ctx, uuid, strp(otherUUID)); err != nil {
		t.Fatal(err)
	}
	if got := mustExec(t, n, uuid, "cat "+in+"/f; ls /root"); got != "kept" {
		t.Errorf("after reprovision the zone sees %q", got)
	}
	for _, ds := range []string{reprovisionData(uuid), reprovisionOld(uuid), reprovisionNew(uuid)} {
		if ok, _ := pool.Exists(n.Pool, ds); ok {
			t.Errorf("%s left after reprovision", ds)
		}
	}

	// Indestructible: delete is refused and changes nothing.
	if _, err := n.Update(ctx, uuid, []byte(`{"indestructible_delegated": true}`)); err != nil {
		t.Fatal(err)
	}
	if err := n.Delete(ctx, uuid); err == nil || err.Error() != "indestructible_delegated is set, cannot delete" {
		t.Fatalf("delete of an indestructible VM: %v", err)
	}
	if st := state(t, n, uuid); st != "running" {
		t.Fatalf("refused delete left the VM %s", st)
	}
	if _, err := n.Update(ctx, uuid, []byte(`{"indestructible_delegated": false}`)); err != nil {
		t.Fatal(err)
	}

	// Sent and received, the data goes along as a dataset of its own.
	s, err := sendVM(t, n, nil, uuid)
	if err != nil {
		t.Fatal(err)
	}
	dst := newPeer(t)
	got, err := dst.Receive(ctx, bytes.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Datasets, v.Datasets) {
		t.Errorf("received datasets %v", got.Datasets)
	}
	if b, err := os.ReadFile(filepath.Join(dst.Zonepath(uuid), "data", "f")); err != nil || string(b) != "kept\n" {
		t.Errorf("received data: %q %v", b, err)
	}
	if k, err := syscall.Getxattr(filepath.Join(dst.Zonepath(uuid), "data"), "btrfs.compression", buf); err != nil || string(buf[:k]) != "lzo" {
		t.Errorf("received delegated dataset's compression is %q, %v", buf[:max(k, 0)], err)
	}
	if b, err := os.ReadFile(filepath.Join(dst.Zonepath(uuid), "root", "bin", "busybox")); err != nil || len(b) == 0 {
		t.Errorf("received root: %v", err)
	}
	if err := dst.Delete(ctx, uuid); err != nil {
		t.Fatal(err)
	}
	checkNoLeaks(t, dst, uuid)

	// As after a host reboot: the pool comes back with the delegated
	// dataset mounted in its zone's dataset, and the zone boots with it.
	if err := n.ClosePool(); err != nil {
		t.Fatal(err)
	}
	n = reopen(t, n)
	if err := n.Start(ctx, uuid); err != nil {
		t.Fatal(err)
	}
	if got := mustExec(t, n, uuid, "cat "+in+"/f"); got != "kept" {
		t.Errorf("after the pool's reopen the zone sees %q", got)
	}
	if err := n.Delete(ctx, uuid); err != nil {
		t.Fatal(err)
	}
	checkNoLeaks(t, n, uuid)
}

// TestDelegatedDatasetRefused: a pool without child datasets refuses
// delegate_dataset before anything is made; without a delegated dataset
// indestructible_delegated is dropped, as SmartOS drops it; an
// indestructible root blocks delete.
func TestDelegatedDatasetRefused(t *testing.T) {
	n := newNodeWithConfig(t, "pool_driver=dir\n")
	ctx := context.Background()
	_, err := n.Create(ctx, []byte(`{"brand":"joyent-minimal","delegate_dataset":true,"image_uuid":"`+BusyboxUUID+`"}`))
	if err == nil || !strings.HasPrefix(err.Error(), "delegate_dataset needs a pool with child datasets") {
		t.Fatalf("create on a dir pool: %v", err)
	}
	if vms, _ := n.List(); len(vms) != 0 {
		t.Fatalf("a refused create left %d VMs", len(vms))
	}
	uuid := create(t, n, `{"brand":"joyent-minimal","autoboot":false,"indestructible_delegated":true,"image_uuid":"`+BusyboxUUID+`"}`)
	if v := mustGet(t, n, uuid); v.IndestructibleData != nil {
		t.Errorf("indestructible_delegated kept without a delegated dataset: %v", *v.IndestructibleData)
	}
	if _, err := n.Update(ctx, uuid, []byte(`{"indestructible_delegated": true, "indestructible_zoneroot": true}`)); err != nil {
		t.Fatal(err)
	}
	if v := mustGet(t, n, uuid); v.IndestructibleData != nil {
		t.Errorf("indestructible_delegated set without a delegated dataset")
	}
	if err := n.Delete(ctx, uuid); err == nil || err.Error() != "indestructible_zoneroot is set, cannot delete" {
		t.Fatalf("delete of an indestructible root: %v", err)
	}
	if _, err := n.Update(ctx, uuid, []byte(`{"indestructible_zoneroot": false}`)); err != nil {
		t.Fatal(err)
	}
}
