package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestIPCLimits: a zone's max_shm_memory and max_shm_ids bound the SysV
// shared memory made in it, its root cannot raise them, and vmadm update
// changes them on the running zone.
func TestIPCLimits(t *testing.T) {
	n := newNode(t)
	uuid := create(t, n, `{"brand":"joyent-minimal","max_shm_memory":1,"max_shm_ids":2,"max_msg_ids":7,"image_uuid":"`+BusyboxUUID+`"}`)
	if got := mustExec(t, n, uuid, "cat /proc/sys/kernel/shmmax /proc/sys/kernel/shmmni /proc/sys/kernel/msgmni"); got != "1048576\n2\n7" {
		t.Errorf("the zone's limits:\n%s", got)
	}
	if out, err := zexec(t, n, uuid, "echo 100 > /proc/sys/kernel/shmmni"); err == nil {
		t.Errorf("the zone's root raised shmmni: %s", out)
	}
	r, _ := n.loadRun(uuid)
	if err := inIPCNamespace(r.PID, func() error {
		if _, err := unix.SysvShmGet(unix.IPC_PRIVATE, 2<<20, unix.IPC_CREAT|0o600); !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("a 2 MiB segment past max_shm_memory 1: %v", err)
		}
		for i := 0; i < 2; i++ {
			if _, err := unix.SysvShmGet(unix.IPC_PRIVATE, 4096, unix.IPC_CREAT|0o600); err != nil {
				return fmt.Errorf("segment %d: %v", i, err)
			}
		}
		if _, err := unix.SysvShmGet(unix.IPC_PRIVATE, 4096, unix.IPC_CREAT|0o600); !errors.Is(err, unix.ENOSPC) {
			return fmt.Errorf("a third segment past max_shm_ids 2: %v", err)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	if _, err := n.Update(context.Background(), uuid, []byte(`{"max_shm_memory":64,"max_shm_ids":10}`)); err != nil {
		t.Fatal(err)
	}
	if got := mustExec(t, n, uuid, "cat /proc/sys/kernel/shmmax /proc/sys/kernel/shmmni /proc/sys/kernel/msgmni"); got != "67108864\n10\n7" {
		t.Errorf("the zone's limits after update:\n%s", got)
	}
	if err := inIPCNamespace(r.PID, func() error {
		_, err := unix.SysvShmGet(unix.IPC_PRIVATE, 2<<20, unix.IPC_CREAT|0o600)
		return err
	}); err != nil {
		t.Errorf("a 2 MiB segment after the update: %v", err)
	}
	// Removing a limit lifts it.
	if _, err := n.Update(context.Background(), uuid, []byte(`{"max_shm_ids":0}`)); err != nil {
		t.Fatal(err)
	}
	if got := mustExec(t, n, uuid, "cat /proc/sys/kernel/shmmni"); got != "4096" {
		t.Errorf("shmmni after removing max_shm_ids: %s", got)
	}
}

// inIPCNamespace runs f on a thread in the IPC namespace of pid.
func inIPCNamespace(pid int, f func() error) error {
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/ipc", pid))
	if err != nil {
		return err
	}
	defer ns.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread goes with the goroutine
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWIPC); err != nil {
			done <- err
			return
		}
		done <- f()
	}()
	return <-done
}
