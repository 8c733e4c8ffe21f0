package node

import (
	"context"
	"strings"
	"testing"
)

// TestLimitPriv: a zone's limit_priv takes from its processes what it
// withholds (file_chown: root's chown of others' files; net_access: IPv4
// and IPv6 sockets; proc_info: other users' processes in /proc), leaves
// the rest, refuses a set a zone cannot have without changing the VM,
// and a changed limit holds from the next boot, as zonecfg's does.
func TestLimitPriv(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	uuid := create(t, n, `{"brand":"joyent-minimal","limit_priv":"default,-file_chown,-net_access,-proc_info","image_uuid":"`+BusyboxUUID+`"}`)

	if out, err := zexec(t, n, uuid, "touch /tmp/f && chown 1000 /tmp/f"); err == nil {
		t.Errorf("chown without file_chown: %s", out)
	}
	if out, _ := zexec(t, n, uuid, "nc -w 1 127.0.0.1 9 </dev/null 2>&1; nc -w 1 ::1 9 </dev/null 2>&1"); strings.Count(out, "socket: Permission denied") != 2 {
		t.Errorf("inet sockets without net_access:\n%s", out)
	}
	// Root still sees every process (it may signal them all); another
	// user sees only its own.
	mustExec(t, n, uuid, "echo 'u:x:1000:1000::/:/bin/sh' >>/etc/passwd")
	if out := mustExec(t, n, uuid, "test -d /proc/1 && su -s /bin/sh u -c 'test -d /proc/1 || echo hidden; test -d /proc/self && echo self'"); out != "hidden\nself" {
		t.Errorf("/proc without proc_info: %q", out)
	}
	// What stays: root's other powers, unix sockets.
	mustExec(t, n, uuid, "chmod 600 /tmp/f && su -s /bin/sh u -c true && mkfifo /tmp/p")
	if out := mustExec(t, n, uuid, "syslogd -n -O /tmp/log & for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.2; logger -t priv hello; grep -q 'priv: hello' /tmp/log && break; done; kill $!; grep -c 'priv: hello' /tmp/log"); out == "0" {
		t.Errorf("syslog over its unix socket: %q", out)
	}

	before, _ := n.Get(uuid)
	for _, bad := range []string{`{"limit_priv":"default,-proc_exec"}`, `{"limit_priv":"default,sys_devices"}`, `{"limit_priv":"default,nope"}`} {
		if _, err := n.Update(ctx, uuid, []byte(bad)); err == nil {
			t.Errorf("update %s accepted", bad)
		}
	}
	if after, _ := n.Get(uuid); after.LimitPriv != before.LimitPriv {
		t.Errorf("a refused update changed limit_priv to %q", after.LimitPriv)
	}

	if _, err := n.Update(ctx, uuid, []byte(`{"limit_priv":"default"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := zexec(t, n, uuid, "chown 1000 /tmp/f"); err == nil {
		t.Error("the new limit_priv held before the zone's next boot")
	}
	if err := n.Reboot(ctx, uuid, false); err != nil {
		t.Fatal(err)
	}
	if out, err := zexec(t, n, uuid, "touch /tmp/f && chown 1000 /tmp/f && nc -w 1 127.0.0.1 9 </dev/null 2>&1; su -s /bin/sh u -c 'test -d /proc/1' && echo seen"); err != nil || strings.Contains(out, "Permission denied") || !strings.Contains(out, "seen") {
		t.Errorf("after reboot with limit_priv default: %v\n%s", err, out)
	}
}
