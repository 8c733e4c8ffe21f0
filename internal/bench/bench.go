// Package bench is `hull bench`: it measures the node core side by side
// with its peers in one run — vmadm create → running zone against the
// same rootfs cloned and started by bare runc, and against an LXC busybox
// container — and reports medians and ratios, host memory per running
// zone, and vmadm list time over many configured zones.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"hull/internal/image"
	"hull/internal/node"
	"hull/internal/vm"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// BusyboxUUID is the busybox image's fixed uuid.
const BusyboxUUID = "dc0688f0-0f6b-4b10-9a1e-2d9fa4ad9d22"

type config struct {
	runs, zones, memZones int
	lxc                   bool
	keep                  bool
	startOnly             bool
}

// Main runs the benchmark and prints its report.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.IntVar(&c.runs, "n", 21, "runs per measurement")
	fs.IntVar(&c.zones, "zones", 1000, "configured zones for the vmadm list measurement")
	fs.IntVar(&c.memZones, "mem-zones", 10, "running zones for the memory measurement")
	fs.BoolVar(&c.lxc, "lxc", true, "compare with LXC (needs Debian's lxc)")
	fs.BoolVar(&c.keep, "keep", false, "keep the bench node's root afterwards")
	fs.BoolVar(&c.startOnly, "start-only", false, "measure zone start only (no memory, SMF or list measurements)")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return 0 // asked for: the usage is printed, nothing is wrong
	} else if err != nil {
		return 2
	}
	if err := run(c, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}

func run(c config, out, log io.Writer) (err error) {
	// Interrupted (or its output closed), the bench stops at the next
	// step and still removes its zones, mounts and roots.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	defer stop()
	defer func() {
		if err != nil && ctx.Err() != nil {
			err = errors.New("interrupted")
		}
	}()
	root, err := os.MkdirTemp("/var/tmp", "hull-bench-")
	if err != nil {
		return err
	}
	n, err := node.Open(root)
	if err != nil {
		node.ExportPool(root)
		os.RemoveAll(root)
		return err
	}
	defer func() {
		if !c.keep {
			cleanupNode(n, root)
		}
	}()
	manifest, file, err := buildBusybox(log)
	if err != nil {
		return err
	}
	if _, err := n.Images.Install(ctx, manifest, file, image.InstallOptions{}); err != nil {
		return fmt.Errorf("install busybox image: %w", err)
	}
	fmt.Fprintf(out, "hull bench: %d runs each, runtime %s, cgroups %v\n\n", c.runs, filepath.Base(n.Runtime.Binary), n.Cgroups)

	var dirNode *node.Node
	if n.Pool.Name() != "dir" {
		d, droot, err := dirNodeWith(ctx, manifest, file)
		if err != nil {
			return err
		}
		defer cleanupNode(d, droot)
		dirNode = d
	}
	hullRuns, runcRuns, dirRuns, err := measureStarts(ctx, n, dirNode, c.runs)
	if err != nil {
		return err
	}
	rows := []row{{"vmadm create → running (" + n.Pool.Name() + ")", hullRuns}, {"bare runc run -d (cloned rootfs)", runcRuns}}
	if dirNode != nil {
		rows = append(rows, row{"vmadm create → running (dir)", dirRuns})
	}
	if c.lxc {
		lxcTimes, err := measureLXC(ctx, c.runs, log)
		if err != nil {
			fmt.Fprintf(out, "LXC: not measured: %v\n", err)
		} else {
			rows = append(rows, row{"lxc-start busybox", wallOnly(lxcTimes)})
		}
	}
	base := median(walls(hullRuns))
	fmt.Fprintf(out, "%-36s %10s %10s %10s %8s %10s\n", "zone start", "median", "min", "max", "hull/x", "cpu")
	for _, r := range rows {
		t, cpu := walls(r.runs), cpus(r.runs)
		c := "-"
		if median(cpu) > 0 {
			c = ms(median(cpu))
		}
		fmt.Fprintf(out, "%-36s %10s %10s %10s %8.2f %10s\n", r.name, ms(median(t)), ms(minOf(t)), ms(maxOf(t)), float64(base)/float64(median(t)), c)
	}
	fmt.Fprintf(out, "(cpu: median CPU time of hull, or of the runtime and the clone, per start)\n")
	fmt.Fprintf(out, "target: vmadm create → running ≤ 1.2× bare runc: %s\n\n", verdict(float64(base)/float64(median(walls(runcRuns))) <= 1.2))
	if c.startOnly {
		return nil
	}

	if err := measureMemory(ctx, n, c.memZones, out); err != nil {
		return err
	}
	if err := measureSMF(ctx, n, c.runs, out); err != nil {
		return err
	}
	return measureList(ctx, n, c.zones, c.runs, out)
}

// dirNodeWith opens a second node whose pool is the dir driver, with the
// busybox image installed, to compare the pool drivers.
func dirNodeWith(ctx context.Context, manifest, file string) (*node.Node, string, error) {
	root, err := os.MkdirTemp("/var/tmp", "hull-bench-dir-")
	if err != nil {
		return nil, "", err
	}
	n, err := node.OpenWithPool(root, "dir")
	if err != nil {
		os.RemoveAll(root)
		return nil, "", err
	}
	if _, err := n.Images.Install(ctx, manifest, file, image.InstallOptions{}); err != nil {
		cleanupNode(n, root)
		return nil, "", fmt.Errorf("install busybox image: %w", err)
	}
	return n, root, nil
}

// measureStarts times hull's create → running and bare runc's start of
// the same image in turns, so that both see the same machine: whatever
// else runs slows both alike. Which goes first alternates. The first
// round warms caches for everyone and is not counted.
func measureStarts(ctx context.Context, n, dirNode *node.Node, runs int) (hull, runc, dir []sample, err error) {
	tmp, err := os.MkdirTemp("", "hull-bench-runc-")
	if err != nil {
		return nil, nil, nil, err
	}
	defer os.RemoveAll(tmp)
	spec, err := stockSpec(ctx, n.Runtime.Binary)
	if err != nil {
		return nil, nil, nil, err
	}
	for i := range runs + 1 {
		if err := ctx.Err(); err != nil {
			return nil, nil, nil, err
		}
		steps := []func() (sample, error){
			func() (sample, error) { return hullOnce(ctx, n) },
			func() (sample, error) { return runcOnce(ctx, n, spec, tmp, i) },
		}
		if i%2 == 1 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		if dirNode != nil {
			steps = append(steps, func() (sample, error) { return hullOnce(ctx, dirNode) })
		}
		var ds []sample
		for _, step := range steps {
			d, err := step()
			if err != nil {
				return nil, nil, nil, err
			}
			ds = append(ds, d)
		}
		if i%2 == 1 {
			ds[0], ds[1] = ds[1], ds[0]
		}
		if i == 0 {
			continue
		}
		hull, runc = append(hull, ds[0]), append(runc, ds[1])
		if dirNode != nil {
			dir = append(dir, ds[2])
		}
	}
	return hull, runc, dir, nil
}

// sample is one measured start: wall-clock time, and the CPU time this
// process and its children spent on it (0: not measured).
type sample struct{ wall, cpu time.Duration }

type row struct {
	name string
	runs []sample
}

func walls(s []sample) []time.Duration {
	out := make([]time.Duration, len(s))
	for i, x := range s {
		out[i] = x.wall
	}
	return out
}

func cpus(s []sample) []time.Duration {
	out := make([]time.Duration, len(s))
	for i, x := range s {
		out[i] = x.cpu
	}
	return out
}

func wallOnly(ts []time.Duration) []sample {
	out := make([]sample, len(ts))
	for i, t := range ts {
		out[i].wall = t
	}
	return out
}

// cpuTime is the CPU time used so far by this process and its reaped
// children.
func cpuTime() time.Duration {
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	return time.Duration(self.Utime.Nano() + self.Stime.Nano() + kids.Utime.Nano() + kids.Stime.Nano())
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// hullOnce times Node.Create of an autobooting zone until it runs, and
// deletes it.
func hullOnce(ctx context.Context, n *node.Node) (sample, error) {
	c0, t0 := cpuTime(), time.Now()
	v, err := n.Create(ctx, []byte(`{"brand":"joyent-minimal","alias":"bench","image_uuid":"`+BusyboxUUID+`"}`))
	s := sample{time.Since(t0), cpuTime() - c0}
	if err != nil {
		return s, fmt.Errorf("hull create: %w", err)
	}
	if v.State != "running" {
		return s, fmt.Errorf("hull create: zone is %s", v.State)
	}
	return s, n.Delete(ctx, v.UUID)
}

// runcOnce clones the same image and starts it with the runtime alone
// (no user namespace, no journal, no hull), then removes it.
func runcOnce(ctx context.Context, n *node.Node, spec *specs.Spec, dir string, i int) (sample, error) {
	state := filepath.Join(dir, "state")
	id := fmt.Sprintf("hull-bench-%d", i)
	ds := node.PoolName + "/bench-runc-" + strconv.Itoa(i)
	bundle := filepath.Join(dir, id)
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		return sample{}, err
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return sample{}, err
	}
	defer devnull.Close()
	c0, t0 := cpuTime(), time.Now()
	d, err := n.Pool.Clone(image.SnapshotName(BusyboxUUID), ds)
	if err != nil {
		return sample{}, fmt.Errorf("clone for runc: %w", err)
	}
	spec.Root.Path = filepath.Join(d.Mountpoint, "root")
	b, err := json.Marshal(spec)
	if err == nil {
		err = os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600)
	}
	if err != nil {
		n.Pool.Destroy(ds)
		return sample{}, err
	}
	c := exec.CommandContext(ctx, n.Runtime.Binary, "--root", state, "run", "-d", "--bundle", bundle, id)
	c.Stdin, c.Stdout, c.Stderr = devnull, devnull, devnull
	err = c.Run()
	s := sample{time.Since(t0), cpuTime() - c0}
	if err != nil {
		n.Pool.Destroy(ds)
		return s, fmt.Errorf("runc run: %w", err)
	}
	exec.Command(n.Runtime.Binary, "--root", state, "delete", "-f", id).Run()
	return s, n.Pool.Destroy(ds)
}

// stockSpec is the spec the runtime itself writes for a new bundle
// (`runc spec`), as an operator starting a container by hand would use
// it. Only what a zone needs differently is changed: a sleeper as init
// without a terminal, a writable root (a zone's root is), a hostname.
// The root's path is set per run.
func stockSpec(ctx context.Context, runtime string) (*specs.Spec, error) {
	dir, err := os.MkdirTemp("", "hull-bench-spec-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if out, err := exec.CommandContext(ctx, runtime, "spec", "--bundle", dir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s spec: %v: %s", filepath.Base(runtime), err, strings.TrimSpace(string(out)))
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s spec: %w", filepath.Base(runtime), err)
	}
	if s.Process == nil || s.Root == nil {
		return nil, fmt.Errorf("%s spec: no process or root", filepath.Base(runtime))
	}
	s.Process.Terminal = false
	s.Process.Args = []string{"/bin/sleep", "100000"}
	s.Root.Readonly = false
	s.Hostname = "bench"
	return &s, nil
}

// measureLXC starts Debian LXC's busybox container the same number of
// times.
func measureLXC(ctx context.Context, runs int, log io.Writer) ([]time.Duration, error) {
	if _, err := exec.LookPath("lxc-start"); err != nil {
		return nil, errors.New("lxc is not installed (apt-get install lxc)")
	}
	const name = "hull-bench-lxc"
	exec.Command("lxc-destroy", "-f", "-n", name).Run()
	create := exec.Command("lxc-create", "-n", name, "-t", "busybox")
	if out, err := create.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("lxc-create: %v: %s", err, lastLine(out))
	}
	defer exec.Command("lxc-destroy", "-f", "-n", name).Run()
	// No network: hull's zone has none either in this measurement.
	cfg := "/var/lib/lxc/" + name + "/config"
	if b, err := os.ReadFile(cfg); err == nil {
		var keep []string
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "lxc.net.") {
				keep = append(keep, l)
			}
		}
		keep = append(keep, "lxc.net.0.type = empty")
		os.WriteFile(cfg, []byte(strings.Join(keep, "\n")+"\n"), 0o644)
	}
	var ts []time.Duration
	for i := range runs + 1 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t0 := time.Now()
		if out, err := exec.Command("lxc-start", "-n", name, "-d").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("lxc-start: %v: %s", err, lastLine(out))
		}
		if out, err := exec.Command("lxc-wait", "-n", name, "-s", "RUNNING", "-t", "30").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("lxc-wait: %v: %s", err, lastLine(out))
		}
		d := time.Since(t0)
		if i > 0 {
			ts = append(ts, d)
		}
		exec.Command("lxc-stop", "-k", "-n", name).Run()
	}
	return ts, nil
}

// measureMemory boots zones and reports what the host pays per running
// zone: host-side processes (none by design) and the drop in available
// memory, next to what the zones themselves use.
func measureMemory(ctx context.Context, n *node.Node, count int, out io.Writer) error {
	dropCaches()
	before := memAvailable()
	var ids []string
	for range count {
		if err := ctx.Err(); err != nil {
			return err
		}
		v, err := n.Create(ctx, []byte(`{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`"}`))
		if err != nil {
			return err
		}
		ids = append(ids, v.UUID)
	}
	time.Sleep(time.Second)
	dropCaches()
	after := memAvailable()
	hostProcs := hostSideProcesses(n)
	per := (before - after) / int64(count)
	var rss []int64 // KiB, each zone's PID 1
	for _, id := range ids {
		if v, err := n.Get(id); err == nil && v.PID > 0 {
			rss = append(rss, vmRSS(v.PID))
		}
	}
	slices.Sort(rss)
	fmt.Fprintf(out, "memory with %d running zones:\n", count)
	fmt.Fprintf(out, "  host-side processes per zone:   %d (target: no per-zone host process)\n", hostProcs)
	fmt.Fprintf(out, "  MemAvailable drop per zone:     %.2f MiB (zone processes, kernel objects and page cache included)\n", float64(per)/(1<<20))
	fmt.Fprintf(out, "  host overhead per zone ≤ 1 MiB: %s (no host process holds memory for a zone)\n", verdict(hostProcs == 0))
	if len(rss) > 0 {
		m := float64(rss[len(rss)/2]) / 1024
		fmt.Fprintf(out, "  in-zone init (svc.startd) RSS:  %.1f MiB median (target ≤ 8 MiB): %s\n", m, verdict(m <= 8))
	}
	fmt.Fprintln(out)
	for _, id := range ids {
		if err := n.Delete(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// hostSideProcesses counts processes outside every zone that were
// started for a zone (a runtime shim, a monitor): hull starts none.
func hostSideProcesses(n *node.Node) int {
	count := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if strings.Contains(string(cmd), n.Runtime.Root) && !strings.Contains(string(cg), "/hull/") {
			count++
		}
	}
	return count
}

// measureList configures many zones (not running) and times listing them.
func measureList(ctx context.Context, n *node.Node, count, runs int, out io.Writer) error {
	t0 := time.Now()
	for i := range count {
		if err := ctx.Err(); err != nil {
			return err
		}
		_, err := n.Create(ctx, []byte(fmt.Sprintf(`{"brand":"joyent-minimal","alias":"list%d","autoboot":false,"image_uuid":"%s","tags":{"n":%d}}`, i, BusyboxUUID, i)))
		if err != nil {
			return fmt.Errorf("configure zone %d: %w", i, err)
		}
	}
	fmt.Fprintf(out, "configured %d zones in %v (%.1f ms each)\n", count, time.Since(t0).Round(time.Millisecond), float64(time.Since(t0).Milliseconds())/float64(count))
	var inproc, cli []time.Duration
	for range runs {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := time.Now()
		vms, err := n.List()
		if err != nil {
			return err
		}
		if err := vm.FormatList(io.Discard, vms, vm.ListOptions{}); err != nil {
			return err
		}
		inproc = append(inproc, time.Since(t))
		self, _ := os.Executable()
		c := exec.Command(self, "vmadm", "list")
		c.Env = append(os.Environ(), "HULL_ROOT="+n.Root)
		t = time.Now()
		if o, err := c.Output(); err != nil {
			return fmt.Errorf("vmadm list: %v %s", err, o)
		}
		cli = append(cli, time.Since(t))
	}
	fmt.Fprintf(out, "vmadm list, %d zones: median %s in process, %s as a command (target ≤ 50 ms): %s\n",
		count, ms(median(inproc)), ms(median(cli)), verdict(median(cli) <= 50*time.Millisecond))
	return nil
}

func buildBusybox(log io.Writer) (manifest, file string, err error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "images/busybox/build.sh")); err == nil {
			break
		}
		p := filepath.Dir(dir)
		if p == dir {
			return "", "", errors.New("run from the hull source tree (images/busybox/build.sh builds the image)")
		}
		dir = p
	}
	outDir := filepath.Join(dir, "build/images/busybox")
	c := exec.Command(filepath.Join(dir, "images/busybox/build.sh"), outDir)
	c.Stderr = log
	if err := c.Run(); err != nil {
		return "", "", fmt.Errorf("build busybox image: %w", err)
	}
	return filepath.Join(outDir, "busybox.json"), filepath.Join(outDir, "busybox.tar.gz"), nil
}

func cleanupNode(n *node.Node, root string) {
	ctx := context.Background()
	vms, _ := n.List()
	for _, v := range vms {
		n.Delete(ctx, v.UUID)
	}
	n.Images.Delete(BusyboxUUID)
	n.ClosePool()
	os.RemoveAll(root)
}

func dropCaches() { os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200) }

// vmRSS is a process's resident set in KiB (0 if it is gone).
func vmRSS(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb
		}
	}
	return 0
}

func memAvailable() int64 {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "MemAvailable:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func lastLine(b []byte) string {
	l := strings.Split(strings.TrimSpace(string(b)), "\n")
	return l[len(l)-1]
}

func sorted(ts []time.Duration) []time.Duration {
	s := append([]time.Duration(nil), ts...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}

func median(ts []time.Duration) time.Duration {
	s := sorted(ts)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func minOf(ts []time.Duration) time.Duration { return sorted(ts)[0] }
func maxOf(ts []time.Duration) time.Duration { s := sorted(ts); return s[len(s)-1] }

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
