package node

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hull/internal/image"
	"hull/internal/image/imagetest"
	"hull/internal/pool"
)

// otherUUID is a second zone-dataset image: the busybox file under a
// manifest of its own.
const otherUUID = "5e7a1c2b-3d4e-4f50-8a6b-7c8d9e0f1a2b"

func installOther(t *testing.T, n *Node) {
	t.Helper()
	mp, f := imagetest.Busybox(t)
	b, err := os.ReadFile(mp)
	if err != nil {
		t.Fatal(err)
	}
	var m image.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m.UUID, m.Name = otherUUID, "other"
	if _, err := n.Images.InstallManifest(context.Background(), &m, f, image.InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Images.Delete(otherUUID) })
}

func strp(s string) *string { return &s }

// TestReprovision gives a running zone a fresh root from another image:
// what the zone wrote is gone, its config/ and cores/, configuration and
// identity stay, its snapshots go, and it runs again.
func TestReprovision(t *testing.T) {
	for _, drv := range []string{"btrfs", "dir"} {
		t.Run(drv, func(t *testing.T) { testReprovision(t, newNodeWithConfig(t, "pool_driver="+drv+"\n")) })
	}
}

func testReprovision(t *testing.T, n *Node) {
	installOther(t, n)
	ctx := context.Background()
	uuid := create(t, n, `{"brand":"joyent-minimal","hostname":"keeper","quota":5,"max_lwps":321,
		"customer_metadata":{"k":"v"},"image_uuid":"`+BusyboxUUID+`"}`)
	mustExec(t, n, uuid, "echo old > /root/mine")
	if err := n.CreateSnapshot(ctx, uuid, "before"); err != nil {
		t.Fatal(err)
	}
	zp := n.Zonepath(uuid)
	for _, f := range []string{"config/kept.json", "cores/core.1"} {
		if err := os.WriteFile(filepath.Join(zp, f), []byte(f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pid := mustGet(t, n, uuid).PID
	if err := n.Reprovision(ctx, uuid, strp(otherUUID)); err != nil {
		t.Fatal(err)
	}
	v := mustGet(t, n, uuid)
	if v.State != "running" || v.PID == pid || v.ImageUUID != otherUUID || len(v.Snapshots) != 0 ||
		v.MaxLwps != 321 || v.CustomerMetadata["k"] != "v" || v.Autoboot == nil || !*v.Autoboot {
		t.Fatalf("after reprovision: state %s pid %d (was %d) image %s snapshots %v max_lwps %d metadata %v autoboot %v",
			v.State, v.PID, pid, v.ImageUUID, v.Snapshots, v.MaxLwps, v.CustomerMetadata, v.Autoboot)
	}
	if out, _ := zexec(t, n, uuid, "cat /root/mine 2>&1; hostname"); !strings.Contains(out, "No such file") || !strings.HasSuffix(out, "keeper") {
		t.Fatalf("the new root: %q", out)
	}
	for _, f := range []string{"config/kept.json", "cores/core.1"} {
		if b, err := os.ReadFile(filepath.Join(zp, f)); err != nil || string(b) != f {
			t.Errorf("%s after reprovision: %q %v", f, b, err)
		}
	}
	all, err := n.Pool.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range all {
		if strings.Contains(d.Name, uuid) && d.Name != dataset(uuid) {
			t.Errorf("left in the pool: %s", d.Name)
		}
	}
	quota := int64(5 << 30)
	if n.Pool.Name() == "dir" {
		quota = 0 // the dir pool has no quotas
	}
	if d, err := n.Pool.Get(dataset(uuid)); err != nil || d.Quota != quota || d.Origin != image.SnapshotName(otherUUID) {
		t.Errorf("the new root dataset: %+v %v", d, err)
	}
	// A root in use on the host is not replaced: the reprovision fails
	// before anything changes but the zone's state (stopped).
	f, err := os.Open(filepath.Join(zp, "root"))
	if err != nil {
		t.Fatal(err)
	}
	err = n.Reprovision(ctx, uuid, strp(BusyboxUUID))
	f.Close()
	if err == nil || !strings.Contains(err.Error(), "is in use") {
		t.Fatalf("reprovision of a root in use: %v", err)
	}
	if v := mustGet(t, n, uuid); v.ImageUUID != otherUUID || v.State != "stopped" {
		t.Fatalf("after a refused reprovision: %s %s", v.ImageUUID, v.State)
	}
	if ok, _ := pool.Exists(n.Pool, reprovisionNew(uuid)); ok {
		t.Error("the new root is left after a refused reprovision")
	}
	if b, err := os.ReadFile(filepath.Join(zp, "config/kept.json")); err != nil || string(b) != "config/kept.json" {
		t.Errorf("the root after a refused reprovision: %q %v", b, err)
	}
	if err := n.Start(ctx, uuid); err != nil {
		t.Fatal(err)
	}
	// A stopped zone is booted too.
	if err := n.Stop(ctx, uuid, true, 0); err != nil {
		t.Fatal(err)
	}
	if err := n.Reprovision(ctx, uuid, strp(BusyboxUUID)); err != nil {
		t.Fatal(err)
	}
	if v := mustGet(t, n, uuid); v.State != "running" || v.ImageUUID != BusyboxUUID {
		t.Fatalf("stopped zone after reprovision: %s %s", v.State, v.ImageUUID)
	}
}

// TestReprovisionRefused: what SmartOS refuses is refused with its
// message, before the zone is stopped or anything changes.
func TestReprovisionRefused(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	uuid := create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`"}`)
	sparse := create(t, n, `{"brand":"sparse","autoboot":false}`)
	if err := n.CreateSnapshot(ctx, uuid, "s"); err != nil {
		t.Fatal(err)
	}
	clone := PoolName + "/reprovision-clone"
	if _, err := n.Pool.Clone(snapDataset(uuid, "s"), clone); err != nil {
		t.Fatal(err)
	}
	pid := mustGet(t, n, uuid).PID
	for _, tc := range []struct {
		uuid string
		img  *string
		want string
	}{
		{sparse, strp(BusyboxUUID), `brand "sparse" does not yet support reprovision`},
		{uuid, nil, "payload is missing image_uuid"},
		{uuid, strp("nope"), `invalid uuid: "nope"`},
		{uuid, strp("00000000-0000-0000-0000-000000000001"), `image "00000000-0000-0000-0000-000000000001" was not found on zpool "zones"`},
		{uuid, strp(BusyboxUUID), "reprovision " + uuid + ": snapshot " + snapDataset(uuid, "s") + " is cloned by " + clone},
		{"00000000-0000-0000-0000-000000000009", strp(BusyboxUUID), "zoneadm: 00000000-0000-0000-0000-000000000009: No such zone configured"},
	} {
		err := n.Reprovision(ctx, tc.uuid, tc.img)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("reprovision %s to %v: %v, want %q", tc.uuid, tc.img, err, tc.want)
		}
	}
	if err := n.Pool.Destroy(clone); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Update(ctx, uuid, []byte(`{"indestructible_zoneroot": true}`)); err != nil {
		t.Fatal(err)
	}
	if err := n.Reprovision(ctx, uuid, strp(BusyboxUUID)); err == nil || err.Error() != "indestructible_zoneroot is set, cannot reprovision" {
		t.Errorf("indestructible: %v", err)
	}
	if _, err := n.Update(ctx, uuid, []byte(`{"indestructible_zoneroot": false}`)); err != nil {
		t.Fatal(err)
	}
	if v := mustGet(t, n, uuid); v.State != "running" || v.PID != pid || len(v.Snapshots) != 1 {
		t.Fatalf("a refused reprovision changed the zone: %s pid %d (was %d) %v", v.State, v.PID, pid, v.Snapshots)
	}
}

// TestKillDuringReprovision kills vmadm reprovision at each step: before
// the new root is cloned whole, the VM keeps its root (stopped); after,
// the next hull command finishes the swap. Either way nothing is left
// beside the VM's dataset.
func TestKillDuringReprovision(t *testing.T) {
	n := newNode(t)
	installOther(t, n)
	// With a delegated dataset, where the pool has them: it is set
	// aside and put back across the swap, and must come through whole.
	delegate := pool.HasChildren(n.Pool)
	for _, fp := range []string{"reprovision/after-clone", "reprovision/after-unmount", "reprovision/after-forward", "reprovision/after-data-aside",
		"reprovision/after-aside", "reprovision/after-swap", "reprovision/after-config"} {
		t.Run(strings.ReplaceAll(fp, "/", "-"), func(t *testing.T) {
			uuid := create(t, n, fmt.Sprintf(`{"brand":"joyent-minimal","delegate_dataset":%v,"image_uuid":"%s"}`, delegate, BusyboxUUID))
			mustExec(t, n, uuid, "echo old > /root/mine")
			if delegate {
				mustExec(t, n, uuid, "echo data > /zones/"+uuid+"/data/f")
			}
			out, err := hull(t, n, []string{"HULL_FAILPOINT=" + fp}, `{"image_uuid":"`+otherUUID+`"}`, "vmadm", "reprovision", uuid)
			if err == nil {
				t.Fatalf("vmadm reprovision survived %s: %s", fp, out)
			}
			if out, err := hull(t, n, nil, "", "vmadm", "list", "-H", "-o", "state", "uuid="+uuid); err != nil || strings.TrimSpace(out) != "provisioning" {
				t.Errorf("vmadm list before recovery: %v %q", err, out)
			}
			m := reopen(t, n)
			v := mustGet(t, m, uuid)
			want, mine := otherUUID, "<open "
			if fp == "reprovision/after-clone" || fp == "reprovision/after-unmount" {
				want, mine = BusyboxUUID, "old\n"
			}
			if v.State != "stopped" || v.ImageUUID != want {
				t.Fatalf("after a crash at %s: %s, image %s (want %s)", fp, v.State, v.ImageUUID, want)
			}
			if got := readRoot(t, m, uuid, "root/mine"); !strings.HasPrefix(got, mine) {
				t.Fatalf("after a crash at %s: /root/mine is %q", fp, got)
			}
			for _, ds := range []string{reprovisionNew(uuid), reprovisionOld(uuid), reprovisionData(uuid)} {
				if ok, _ := pool.Exists(m.Pool, ds); ok {
					t.Errorf("after a crash at %s: %s is left", fp, ds)
				}
			}
			if b, err := os.ReadFile(filepath.Join(m.Zonepath(uuid), "data", "f")); delegate && string(b) != "data\n" {
				t.Errorf("after a crash at %s: the delegated dataset has %q, %v", fp, b, err)
			}
			if err := m.Start(context.Background(), uuid); err != nil {
				t.Fatal(err)
			}
			if err := m.Delete(context.Background(), uuid); err != nil {
				t.Fatal(err)
			}
			checkNoLeaks(t, m, uuid)
		})
	}
}
