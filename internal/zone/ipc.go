package zone

import (
	"fmt"
	"strconv"

	"hull/internal/vm"
)

// SysV IPC limits. SmartOS's zone.max-shm-memory, zone.max-shm-ids,
// zone.max-sem-ids and zone.max-msg-ids rctls bound a zone's System V IPC;
// on Linux each zone has its own IPC namespace, whose sysctls are those
// bounds. The zone sees them in /proc/sys/kernel, read-only there, so its
// root cannot raise them.

// ipcMaxIDs is the most identifiers of one kind a namespace may have
// (the kernel's IPCMNI): a larger value is clamped to it.
const ipcMaxIDs = 32768

// Kernel defaults of a new IPC namespace, for a limit a VM does not set
// (a live update that removes one restores them).
const (
	shmUnlimited  = "18446744073692774399" // SHMMAX and SHMALL: ULONG_MAX - 2^24
	defaultMNI    = 32000                  // MSGMNI, SEMMNI
	defaultSHMMNI = 4096
	// SEMMSL, SEMMNS and SEMOPM, kept as the kernel has them.
	semRest = "32000 1024000000 500"
)

// IPCSysctls are the IPC namespace sysctls that carry the VM's SysV IPC
// limits, every one of them set (to the kernel's default where the VM has
// no limit). pageSize converts max_shm_memory to kernel.shmall's pages.
func IPCSysctls(v *vm.VM, pageSize int) map[string]string {
	ids := func(n int64, def int) string {
		if n <= 0 {
			return strconv.Itoa(def)
		}
		return strconv.FormatInt(min(n, ipcMaxIDs), 10)
	}
	s := map[string]string{
		"kernel.shmmax": shmUnlimited,
		"kernel.shmall": shmUnlimited,
		"kernel.shmmni": ids(v.MaxShmIDs, defaultSHMMNI),
		"kernel.msgmni": ids(v.MaxMsgIDs, defaultMNI),
		"kernel.sem":    fmt.Sprintf("%s %s", semRest, ids(v.MaxSemIDs, defaultMNI)),
	}
	if v.MaxShmMemory > 0 {
		b := v.MaxShmMemory << 20
		// One segment may be as large as all of them together.
		s["kernel.shmmax"] = strconv.FormatInt(b, 10)
		s["kernel.shmall"] = strconv.FormatInt(b/int64(pageSize), 10)
	}
	return s
}
