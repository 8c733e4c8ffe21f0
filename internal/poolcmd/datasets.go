package poolcmd

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"hull/internal/pool"
)

// columns are the properties `zfs list -o` knows here.
var columns = map[string]func(pool.Dataset, bool) string{
	"name":  func(d pool.Dataset, _ bool) string { return d.Name },
	"used":  func(d pool.Dataset, p bool) string { return size(d.Used, p) },
	"avail": func(d pool.Dataset, p bool) string { return size(avail(d, -1), p) },
	"refer": func(d pool.Dataset, p bool) string { return size(d.Refer, p) },
	"mountpoint": func(d pool.Dataset, _ bool) string {
		if d.Mountpoint == "" {
			return "-"
		}
		return d.Mountpoint
	},
	"origin": func(d pool.Dataset, _ bool) string { return dash(d.Origin) },
	"quota": func(d pool.Dataset, p bool) string {
		if strings.Contains(d.Name, "@") {
			return "-"
		}
		if d.Quota == 0 {
			return "none"
		}
		return size(d.Quota, p)
	},
	"creation": func(d pool.Dataset, _ bool) string { return strconv.FormatInt(d.Created, 10) },
	"type": func(d pool.Dataset, _ bool) string {
		if strings.Contains(d.Name, "@") {
			return "snapshot"
		}
		return "filesystem"
	},
}

// avail is what a dataset can still take, as zfs list shows it: the
// pool's free space, less where its quota is nearer (-1: unknown).
func avail(d pool.Dataset, poolFree int64) int64 {
	if strings.Contains(d.Name, "@") {
		return -1
	}
	a := poolFree
	if d.Quota > 0 && d.Refer >= 0 {
		q := max(d.Quota-d.Refer, 0)
		if a < 0 || q < a {
			a = q
		}
	}
	return a
}

// poolFree is the pool's free space, -1 when the driver cannot tell.
func poolFree(d pool.Driver) int64 {
	type statuser interface {
		Free() (int64, error)
	}
	if s, ok := d.(statuser); ok {
		if f, err := s.Free(); err == nil {
			return f
		}
	}
	return -1
}

func size(n int64, parsable bool) string {
	if parsable {
		if n < 0 {
			return "-"
		}
		return strconv.FormatInt(n, 10)
	}
	return Human(n)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// datasets is `zfs list [-H] [-p] [-o cols] [-t types] [name...]`.
func datasets(env Env, args []string, cmd string) int {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	scripted := fs.Bool("H", false, "no header, tab-separated")
	parsable := fs.Bool("p", false, "exact numbers")
	cols := fs.String("o", "name,used,avail,refer,mountpoint", "columns")
	types := fs.String("t", "filesystem", "types: filesystem, snapshot, all")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var getters []func(pool.Dataset, bool) string
	var header []string
	for _, c := range strings.Split(*cols, ",") {
		g, ok := columns[c]
		if !ok {
			fmt.Fprintf(env.Stderr, "bad property list: invalid property '%s'\n", c)
			return 2
		}
		getters = append(getters, g)
		header = append(header, strings.ToUpper(c))
	}
	want := map[string]bool{}
	for _, t := range strings.Split(*types, ",") {
		switch t {
		case "all":
			want["filesystem"], want["snapshot"] = true, true
		case "filesystem", "snapshot":
			want[t] = true
		case "snap":
			want["snapshot"] = true
		default:
			fmt.Fprintf(env.Stderr, "invalid type '%s'\n", t)
			return 2
		}
	}
	d, err := env.Open()
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", cmd, err)
		return 1
	}
	free := poolFree(d)
	for i, c := range strings.Split(*cols, ",") {
		if c == "avail" {
			getters[i] = func(ds pool.Dataset, p bool) string { return size(avail(ds, free), p) }
		}
	}
	all, err := d.List()
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", cmd, err)
		return 1
	}
	names := fs.Args()
	var rows [][]string
	for _, x := range all {
		typ := columns["type"](x, false)
		if len(names) == 0 && !want[typ] {
			continue
		}
		if len(names) > 0 && !matches(x.Name, names) {
			continue
		}
		row := make([]string, len(getters))
		for i, g := range getters {
			row[i] = g(x, *parsable)
		}
		rows = append(rows, row)
	}
	for _, n := range names {
		if !exists(all, n) {
			fmt.Fprintf(env.Stderr, "cannot open '%s': dataset does not exist\n", n)
			return 1
		}
	}
	if err := table(env.Stdout, *scripted, header, rows); err != nil {
		return 1
	}
	return 0
}

// matches tells whether name is one of names (a dataset named also
// selects nothing else, as zfs list without -r).
func matches(name string, names []string) bool {
	for _, n := range names {
		if name == n {
			return true
		}
	}
	return false
}

func exists(all []pool.Dataset, name string) bool {
	for _, x := range all {
		if x.Name == name {
			return true
		}
	}
	return false
}
