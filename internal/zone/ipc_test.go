package zone

import (
	"fmt"
	"testing"

	"hull/internal/vm"
)

// TestIPCSysctls: the VM's SysV IPC limits become its IPC
// namespace's sysctls; a limit it lacks is the kernel's default, and ids
// past the kernel's most are clamped.
func TestIPCSysctls(t *testing.T) {
	got := IPCSysctls(&vm.VM{MaxShmMemory: 64, MaxShmIDs: 100, MaxSemIDs: 1 << 20}, 4096)
	want := map[string]string{
		"kernel.shmmax": "67108864", "kernel.shmall": "16384", "kernel.shmmni": "100",
		"kernel.sem": "32000 1024000000 500 32768", "kernel.msgmni": "32000",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sysctls %v, want %v", got, want)
	}
}
