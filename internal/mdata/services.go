package mdata

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"hull/internal/metadata/protocol"
)

// A zone's boot-time metadata services, as SmartOS's: svc:/smartdc/mdata:fetch
// writes the operator-script, user-script and user-data from the VM's
// metadata into the zone, and svc:/smartdc/mdata:execute then runs the
// operator-script (its failure is only reported) and the user-script
// (its failure, or running past mdata_exec_timeout, puts the service in
// maintenance). Both run at every boot.

// Where the services keep what they fetch, as in SmartOS zones.
var (
	OperatorScript = "/var/svc/mdata-operator-script"
	UserScript     = "/var/svc/mdata-user-script"
	UserData       = "/var/db/mdata-user-data"
)

// DefaultExecTimeout is mdata_exec_timeout's default (seconds).
const DefaultExecTimeout = 300

// exitFatal is SMF_EXIT_ERR_FATAL: the restarter puts the service in
// maintenance without retrying.
const exitFatal = 95

// ServicesManifest is the services' manifest; hull is the in-zone path
// of the hull binary. fetch waits for the network, execute for the zone
// to be up; neither has a method timeout of its own (execute keeps
// mdata_exec_timeout itself).
func ServicesManifest(hull string) string {
	inst := func(name, deps, method string) string {
		s := fmt.Sprintf("<instance name=%q enabled=\"true\">\n", name)
		for i, d := range strings.Fields(deps) {
			s += fmt.Sprintf("<dependency name=\"dep%d\" grouping=\"require_all\" restart_on=\"none\" type=\"service\"><service_fmri value=%q/></dependency>\n", i, d)
		}
		return s + fmt.Sprintf(`<exec_method type="method" name="start" exec="%s %s" timeout_seconds="0"/>
<exec_method type="method" name="stop" exec=":true" timeout_seconds="0"/>
<property_group name="startd" type="framework"><propval name="duration" type="astring" value="transient"/></property_group>
</instance>
`, hull, method)
	}
	return `<?xml version="1.0"?>
<service_bundle type="manifest" name="smartdc:mdata">
<service name="smartdc/mdata" type="service" version="1">
` + inst("fetch", "svc:/milestone/network:default", "mdata-fetch") +
		inst("execute", "svc:/smartdc/mdata:fetch svc:/milestone/multi-user:default", "mdata-execute") +
		`<template><common_name><loctext xml:lang="C">VM metadata scripts</loctext></common_name></template>
</service>
</service_bundle>
`
}

// fetchItems are what fetch writes: the key, the file and its mode.
var fetchItems = []struct {
	key  string
	path *string
	mode os.FileMode
}{
	{"sdc:operator-script", &OperatorScript, 0o755},
	{"user-script", &UserScript, 0o755},
	{"user-data", &UserData, 0o600},
}

// Fetch writes each item the VM has into its file and removes the files
// of those it does not have, so that a script removed from the VM's
// metadata no longer runs.
func Fetch(c *protocol.Client, log io.Writer) error {
	for _, it := range fetchItems {
		r, err := c.Get(it.key)
		if err != nil {
			return fmt.Errorf("get %s: %w", it.key, err)
		}
		switch r.Code {
		case protocol.Success:
			if err := writeFile(*it.path, r.Data, it.mode); err != nil {
				return err
			}
			fmt.Fprintf(log, "fetched %s into %s\n", it.key, *it.path)
		case protocol.NotFound:
			if err := os.Remove(*it.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		default:
			return fmt.Errorf("get %s: %s", it.key, r.Code)
		}
	}
	return nil
}

// writeFile replaces p with data, by a rename: a script being run keeps
// its old text.
func writeFile(p, data string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := p + ".new"
	if err := os.WriteFile(tmp, []byte(data), mode); err != nil {
		return err
	}
	os.Chmod(tmp, mode) // whatever the umask
	return os.Rename(tmp, p)
}

// ExecTimeout reads mdata_exec_timeout (seconds, 0 for none) from the
// VM, its default when unset.
func ExecTimeout(c *protocol.Client) time.Duration {
	r, err := c.Get("sdc:mdata_exec_timeout")
	if err != nil || r.Code != protocol.Success {
		return DefaultExecTimeout * time.Second
	}
	n, err := strconv.Atoi(strings.TrimSpace(r.Data))
	if err != nil || n < 0 {
		return DefaultExecTimeout * time.Second
	}
	return time.Duration(n) * time.Second
}

// Execute runs the operator-script, then the user-script (timeout 0:
// none), each from / with SmartOS's PATH, their output in log. It returns
// the method's exit code.
func Execute(timeout time.Duration, log io.Writer) int {
	if executable(OperatorScript) {
		if err := runScript(context.Background(), OperatorScript, log); err != nil {
			fmt.Fprintf(log, "WARNING: operator-script failed: %v\n", err)
		}
	}
	if !executable(UserScript) {
		return 0
	}
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if err := runScript(ctx, UserScript, log); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(log, "user-script did not finish within mdata_exec_timeout (%v)\n", timeout)
		} else {
			fmt.Fprintf(log, "user-script failed: %v\n", err)
		}
		return exitFatal
	}
	return 0
}

func executable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// runScript runs p in a process group of its own, all of which is killed
// when ctx ends.
func runScript(ctx context.Context, p string, log io.Writer) error {
	cmd := exec.Command(p)
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "PATH=/opt/custom/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return ctx.Err()
	}
}

// FetchMain and ExecuteMain are the mdata-fetch and mdata-execute
// personalities, the services' start methods.
func FetchMain(args []string) int {
	c, err := openServed()
	if err != nil {
		// No metadata service (hulld is not running): nothing is known
		// to run, and no earlier boot's script runs.
		fmt.Printf("mdata-fetch: metadata not reachable (%v): no scripts this boot\n", err)
		for _, it := range fetchItems {
			os.Remove(*it.path)
		}
		return 0
	}
	defer c.Close()
	if err := Fetch(c, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "mdata-fetch: %v\n", err)
		return 1
	}
	return 0
}

func ExecuteMain(args []string) int {
	timeout := DefaultExecTimeout * time.Second
	if executable(UserScript) { // only the user-script has a timeout
		if c, err := Open(); err == nil {
			timeout = ExecTimeout(c)
			c.Close()
		}
	}
	return Execute(timeout, os.Stdout)
}

// expectedFile is what the host puts beside the socket when a metadata
// service runs (node.MetadataExpected).
const expectedFile = "metadata.expected"

// openServed connects to the metadata service when the host said at the
// zone's boot that one runs (hulld makes a new VM's socket within a
// second, and may be restarting: Open waits for it). Otherwise it fails
// at once: waiting would keep the restarter polling, and the zone's
// processes in memory, for nothing.
func openServed() (*protocol.Client, error) {
	paths := Sockets
	if p := os.Getenv(SocketEnv); p != "" {
		paths = []string{p}
	}
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return Open()
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), expectedFile)); err == nil {
			return Open()
		}
	}
	return nil, ErrNoSocket
}
