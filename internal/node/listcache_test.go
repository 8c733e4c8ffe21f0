package node

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"hull/internal/vm"
)

// The list cache must never show a stale object: every way a VM object
// changes (create, update by rename, delete) is seen by the next List.
func TestListCacheFollowsChanges(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"vms", "run/zones"} {
		os.MkdirAll(filepath.Join(root, d), 0o700)
	}
	n := &Node{Root: root}
	put := func(uuid, alias string) {
		b, _ := json.Marshal(&vm.VM{UUID: uuid, Alias: alias, Brand: "joyent"})
		if err := writeFileAtomic(n.vmFile(uuid), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	age := func() { // make vms/ look quiet so the cache gets written
		old := time.Now().Add(-time.Minute)
		os.Chtimes(n.vmDir(), old, old)
	}
	aliases := func() map[string]string {
		vms, err := n.List()
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, v := range vms {
			m[v.UUID] = v.Alias
		}
		return m
	}
	a, b := "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	put(a, "one")
	age()
	if got := aliases(); got[a] != "one" || len(got) != 1 {
		t.Fatalf("first list: %v", got)
	}
	if _, err := os.Stat(n.listCachePath()); err != nil {
		t.Fatalf("cache not written: %v", err)
	}
	put(b, "two")
	if got := aliases(); got[b] != "two" || len(got) != 2 {
		t.Fatalf("after create: %v", got)
	}
	age()
	aliases() // rewrites the cache
	put(a, "renamed")
	if got := aliases(); got[a] != "renamed" {
		t.Fatalf("after update: %v", got)
	}
	age()
	aliases()
	os.Remove(n.vmFile(b))
	if got := aliases(); len(got) != 1 {
		t.Fatalf("after delete: %v", got)
	}
	// A cache built in the same clock tick as a change is not written.
	put(b, "again")
	os.Remove(n.listCachePath())
	aliases()
	if _, err := os.Stat(n.listCachePath()); err == nil {
		t.Fatal("cache written while vms/ was just changed")
	}
}
