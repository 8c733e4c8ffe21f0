package node

import (
	"fmt"
	"sync"
	"testing"
)

// TestUpdatesOfOneVMSerialized: vmadm processes updating one VM at once
// take turns (the VM's lock): every update lands, none is lost to
// another's read-modify-write.
func TestUpdatesOfOneVMSerialized(t *testing.T) {
	n := newNode(t)
	uuid := create(t, n, `{"brand":"joyent-minimal","autoboot":false,"image_uuid":"`+BusyboxUUID+`"}`)
	const count = 12
	var wg sync.WaitGroup
	errs := make(chan error, count)
	for i := range count {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := fmt.Sprintf(`{"set_tags":{"t%d":%d},"set_customer_metadata":{"m%d":"v"}}`, i, i, i)
			if out, err := hull(t, n, []string{"HULL_DIRECT=1"}, payload, "vmadm", "update", uuid); err != nil {
				errs <- fmt.Errorf("update %d: %v %s", i, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	v, err := n.Get(uuid)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Tags) != count || len(v.CustomerMetadata) != count {
		t.Fatalf("%d tags and %d metadata keys after %d updates: %v %v", len(v.Tags), len(v.CustomerMetadata), count, v.Tags, v.CustomerMetadata)
	}
}
