// Package poolcmd is `hull pool` (list, status, scrub, datasets, export)
// and the `zfs list` personality: the pool and its datasets shown the way
// SmartOS's zpool and zfs show them.
package poolcmd

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"hull/internal/pool"
	"hull/internal/pool/btrfs"
)

// Env is what the commands act on.
type Env struct {
	Stdout, Stderr io.Writer
	// Open opens the node's pool.
	Open func() (pool.Driver, error)
	// Export exports the node's pool without opening it.
	Export func() error
	// Root is the node's root (for the scrub record).
	Root string
}

const usage = `Usage:
    hull pool list [-H]                 pool size and use (zpool list)
    hull pool status                    pool health, device, last scrub (zpool status)
    hull pool scrub                     verify every block's checksum now
    hull pool datasets [-H] [-o cols] [-t type] [name]
                                        datasets (zfs list)
    hull pool export                    unmount the pool (frees a file-backed pool's loop device)
`

// Main runs `hull pool ARGS`.
func Main(args []string, env Env) int {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "list":
		return run(env, args[1:], list)
	case "status":
		return run(env, args[1:], status)
	case "scrub":
		return run(env, args[1:], scrub)
	case "datasets":
		return datasets(env, args[1:], "hull pool datasets")
	case "export":
		if err := env.Export(); err != nil {
			fmt.Fprintln(env.Stderr, "hull pool export:", err)
			return 1
		}
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(env.Stdout, usage)
		return 0
	}
	fmt.Fprintf(env.Stderr, "hull pool: unknown subcommand %q\n%s", args[0], usage)
	return 2
}

// ZFS runs the `zfs` personality: only `zfs list`.
func ZFS(args []string, env Env) int {
	if len(args) == 0 || args[0] != "list" {
		fmt.Fprintln(env.Stderr, "usage: zfs list [-H] [-o property[,...]] [-t type[,...]] [filesystem|snapshot ...]")
		return 2
	}
	return datasets(env, args[1:], "zfs list")
}

func run(env Env, args []string, fn func(Env, pool.Driver, []string) error) int {
	d, err := env.Open()
	if err != nil {
		fmt.Fprintln(env.Stderr, "hull pool:", err)
		return 1
	}
	if err := fn(env, d, args); err != nil {
		fmt.Fprintln(env.Stderr, "hull pool:", err)
		return 1
	}
	return 0
}

// statuser is a driver that can describe the whole pool.
type statuser interface {
	Status() (*btrfs.Status, error)
}

func list(env Env, d pool.Driver, args []string) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	scripted := fs.Bool("H", false, "no header, tab-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	row := []string{"zones", "-", "-", "-", "-", "ONLINE", "-"}
	if s, ok := d.(statuser); ok {
		st, err := s.Status()
		if err != nil {
			return err
		}
		cap := "-"
		if st.Size > 0 {
			cap = fmt.Sprintf("%d%%", st.Alloc*100/st.Size)
		}
		row = []string{st.Name, Human(st.Size), Human(st.Alloc), Human(st.Free), cap, "ONLINE", d.Name()}
	}
	return table(env.Stdout, *scripted, []string{"NAME", "SIZE", "ALLOC", "FREE", "CAP", "HEALTH", "DRIVER"}, [][]string{row})
}

func status(env Env, d pool.Driver, _ []string) error {
	w := env.Stdout
	s, ok := d.(statuser)
	if !ok {
		fmt.Fprintf(w, "  pool: zones\n state: ONLINE\ndriver: %s (directories on the root's filesystem: no quotas, no checksums)\n", d.Name())
		return nil
	}
	st, err := s.Status()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  pool: %s\n state: ONLINE\ndriver: btrfs\n", st.Name)
	if st.BackingFile != "" {
		fmt.Fprintf(w, "status: The pool is file-backed (%s on %s). File-backed pools are\n", st.BackingFile, st.Device)
		fmt.Fprintf(w, "        for trying hull out: give it a real device with pool_device in the\n")
		fmt.Fprintf(w, "        node config (see docs/pools.md).\n")
	}
	fmt.Fprintf(w, "  scan: %s\n", lastScrub(env.Root))
	fmt.Fprintf(w, "config:\n\n\tNAME\tSTATE\n\t%s\tONLINE\n\t  %s\tONLINE\n\n", st.Name, st.Device)
	fmt.Fprintf(w, "  size: %s, %s allocated, %s free\n", Human(st.Size), Human(st.Alloc), Human(st.Free))
	fmt.Fprintf(w, "  datasets: %d, snapshots: %d\n", st.Datasets, st.Snapshots)
	if !st.QuotaOK {
		fmt.Fprintf(w, "  quotas: accounting is being rebuilt; USED and REFER show '-' until it is done\n")
	}
	fmt.Fprintln(w, "errors: No known data errors")
	return nil
}

// scrubber is a driver that can verify its checksums.
type scrubber interface {
	Scrub() (*btrfs.ScrubResult, error)
}

func scrubFile(root string) string { return filepath.Join(root, "run", "pool-scrub") }

func lastScrub(root string) string {
	b, err := os.ReadFile(scrubFile(root))
	if err != nil {
		return "none requested"
	}
	return strings.TrimSpace(string(b))
}

func scrub(env Env, d pool.Driver, _ []string) error {
	s, ok := d.(scrubber)
	if !ok {
		return fmt.Errorf("the %s pool has no checksums to scrub", d.Name())
	}
	r, err := s.Scrub()
	if err != nil {
		return err
	}
	line := fmt.Sprintf("scrub repaired %s in %s with %d errors on %s",
		Human(r.Corrected), clock(r.Finished.Sub(r.Started)), r.Errors(), r.Finished.Format(time.ANSIC))
	os.WriteFile(scrubFile(env.Root), []byte(line+"\n"), 0o644)
	fmt.Fprintf(env.Stdout, "  scan: %s\n  read: %s data, %s metadata\n", line, Human(r.DataBytes), Human(r.TreeBytes))
	if r.Errors() > 0 {
		fmt.Fprintf(env.Stdout, "errors: %d checksum, %d read, %d verify, %d uncorrectable\n",
			r.CsumErrors, r.ReadErrors, r.VerifyErrors, r.Uncorrectable)
		return errors.New("scrub found errors")
	}
	return nil
}

func clock(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}

// table prints rows under a header, aligned; scripted prints them
// tab-separated without the header, as zfs -H does.
func table(w io.Writer, scripted bool, header []string, rows [][]string) error {
	if scripted {
		for _, r := range rows {
			fmt.Fprintln(w, strings.Join(r, "\t"))
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// Human prints bytes as zfs does: 1024-based, one decimal below 10
// (e.g. 512, 1.50K, 20.0G, 118M). -1 is "-".
func Human(n int64) string {
	if n < 0 {
		return "-"
	}
	if n < 1024 {
		return fmt.Sprintf("%dB", n)
	}
	v := float64(n)
	units := "KMGTPE"
	i := -1
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f%c", v, units[i])
	case v < 100:
		return fmt.Sprintf("%.1f%c", v, units[i])
	}
	return fmt.Sprintf("%.0f%c", v, units[i])
}
