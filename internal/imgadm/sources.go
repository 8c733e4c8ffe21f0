package imgadm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"hull/internal/image"
)

func (c *cli) config() (*image.Store, *image.Config, error) {
	s, err := c.open("")
	if err != nil {
		return nil, nil, err
	}
	cfg, err := image.LoadConfig(s.ConfigPath())
	return s, cfg, err
}

func (c *cli) sources(args []string) error {
	var o struct {
		add, del, typ                                     string
		verbose, json, edit, check, help, k, f, dockerHub bool
	}
	rest, err := parseFlags(args,
		map[string]*bool{"v": &o.verbose, "verbose": &o.verbose, "j": &o.json, "json": &o.json,
			"e": &o.edit, "c": &o.check, "check": &o.check, "h": &o.help, "help": &o.help,
			"k": &o.k, "insecure": &o.k, "f": &o.f, "force": &o.f, "add-docker-hub": &o.dockerHub},
		map[string]*string{"a": &o.add, "d": &o.del, "t": &o.typ, "type": &o.typ})
	if err != nil {
		return err
	}
	if o.help {
		fmt.Fprint(c.stdout, commandUsage["sources"])
		return nil
	}
	if len(rest) != 0 {
		return usageErr("unexpected args: %s", strings.Join(rest, " "))
	}
	if o.dockerHub {
		o.add, o.typ = "https://docker.io", "docker"
	}
	actions := 0
	for _, b := range []bool{o.add != "", o.del != "", o.edit, o.check} {
		if b {
			actions++
		}
	}
	if actions > 1 {
		return usageErr(`cannot specify more than one of "-a", "-d", "-e", and "-c"`)
	}
	s, cfg, err := c.config()
	if err != nil {
		return err
	}
	path := s.ConfigPath()
	switch {
	case o.add != "":
		typ := o.typ
		if typ == "" {
			typ = "imgapi"
		}
		u, err := image.NormalizeSourceURL(o.add)
		if err != nil {
			return usageErr("%v", err)
		}
		sc := image.SourceConfig{URL: u, Type: typ, Insecure: o.k}
		for _, have := range cfg.Sources {
			if have.URL == u && have.Type == typ && have.Insecure == o.k {
				fmt.Fprintf(c.stdout, "Already have %s, no change\n", describe(have))
				return nil
			}
		}
		src, err := image.NewSource(sc)
		if err != nil {
			return &cmdError{code: "ConfigError", status: 1, err: err}
		}
		if !o.f {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := src.Ping(ctx); err != nil {
				return pingErr(sc, err)
			}
		}
		cfg.Sources = append(cfg.Sources, sc)
		if err := cfg.Save(path); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "Added %s\n", describe(sc))
		return nil
	case o.del != "":
		u, err := image.NormalizeSourceURL(o.del)
		if err != nil {
			u = o.del
		}
		var kept, gone []image.SourceConfig
		for _, have := range cfg.Sources {
			if have.URL == u {
				gone = append(gone, have)
			} else {
				kept = append(kept, have)
			}
		}
		if len(gone) == 0 {
			fmt.Fprintf(c.stdout, "Do not have image source %q, no change\n", o.del)
			return nil
		}
		cfg.Sources = kept
		if err := cfg.Save(path); err != nil {
			return err
		}
		for _, sc := range gone {
			fmt.Fprintf(c.stdout, "Deleted %s\n", describe(sc))
		}
		return nil
	case o.edit:
		return c.editSources(cfg, path, o.f)
	case o.check:
		// One row per source, as SmartOS prints it; a source that does
		// not answer is a row, not a failure of the command.
		rows := make([]map[string]any, len(cfg.Sources))
		var wg sync.WaitGroup
		for i, sc := range cfg.Sources {
			wg.Add(1)
			go func() {
				defer wg.Done()
				src, err := image.NewSource(sc)
				if err == nil {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					err = src.Ping(ctx)
					cancel()
				}
				r := map[string]any{"url": sc.URL, "type": sc.Type, "ok": true}
				if err != nil {
					r["ok"] = false
					r["error"] = pingErr(sc, err).Error()
				}
				rows[i] = r
			}()
		}
		wg.Wait()
		return writeTable(c.stdout, rows, []string{"url", "type", "ok", "error"}, nil, false)
	}
	if o.json {
		return writeJSON(c.stdout, cfg.Sources)
	}
	if o.verbose {
		rows := make([]map[string]any, len(cfg.Sources))
		for i, sc := range cfg.Sources {
			rows[i] = map[string]any{"url": sc.URL, "type": sc.Type, "insecure": sc.Insecure}
		}
		return writeTable(c.stdout, rows, []string{"url", "type", "insecure"}, nil, false)
	}
	for _, sc := range cfg.Sources {
		fmt.Fprintln(c.stdout, sc.URL)
	}
	return nil
}

// describe names a source as SmartOS does: `"imgapi" image source "URL"`.
func describe(sc image.SourceConfig) string {
	d := fmt.Sprintf("%q image source %q", sc.Type, sc.URL)
	if sc.Insecure {
		d += " (insecure)"
	}
	return d
}

// pingErr is SmartOS's SourcePing error.
func pingErr(sc image.SourceConfig, err error) error {
	return &cmdError{code: "SourcePing", status: 1, err: fmt.Errorf("unexpected ping error with %s: %w", describe(sc), err)}
}

// editSources opens $EDITOR (vi by default) on the sources, one
// "URL TYPE [insecure]" per line, as SmartOS's imgadm sources -e.
func (c *cli) editSources(cfg *image.Config, path string, noPing bool) error {
	f, err := os.CreateTemp("", "imgadm-sources-*.txt")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	var before strings.Builder
	for _, sc := range cfg.Sources {
		line := fmt.Sprintf("%s  %-6s", sc.URL, sc.Type)
		if sc.Insecure {
			line += "  insecure"
		}
		before.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	before.WriteString(`
#
# Enter sources, one per line, as follows:
#
#   URL TYPE [OPTIONS]
#
# where "TYPE" is one of "imgapi" (the default) or "docker"; and where
# "OPTIONS" is the literal string "insecure" to skip TLS server
# certificate checking for this source.
#
# Comments beginning with "#" are stripped.
#
`)
	f.WriteString(before.String())
	f.Close()
	editor := os.Getenv("EDITOR")
	if editor == "" {
		editor = "vi"
	}
	cmd := exec.Command("/bin/sh", "-c", editor+` "$1"`, "editor", f.Name())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(c.stderr, "Error editing image sources: %v (ignoring)\n", err)
		return nil
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return err
	}
	var out []image.SourceConfig
	for _, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		u, err := image.NormalizeSourceURL(fields[0])
		if err != nil {
			return usageErr("%v", err)
		}
		sc := image.SourceConfig{URL: u, Type: "imgapi"}
		if len(fields) > 1 {
			sc.Type = fields[1]
		}
		if len(fields) > 2 {
			for _, opt := range strings.Split(fields[2], ",") {
				if opt != "insecure" {
					return &cmdError{code: "Usage", status: 1, err: fmt.Errorf("unknown source option: %s", opt)}
				}
				sc.Insecure = true
			}
		}
		out = append(out, sc)
	}
	if slices.Equal(out, cfg.Sources) {
		fmt.Fprintln(c.stdout, "Image sources unchanged")
		return nil
	}
	// New sources are pinged (unless -f), as -a does.
	var msgs []string
	for _, sc := range out {
		if slices.Contains(cfg.Sources, sc) {
			continue
		}
		src, err := image.NewSource(sc)
		if err != nil {
			return &cmdError{code: "ConfigError", status: 1, err: err}
		}
		if !noPing {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := src.Ping(ctx)
			cancel()
			if err != nil {
				return pingErr(sc, err)
			}
		}
		msgs = append(msgs, "Added "+describe(sc))
	}
	for _, sc := range cfg.Sources {
		if !slices.Contains(out, sc) {
			msgs = append(msgs, "Deleted "+describe(sc))
		}
	}
	if len(msgs) == 0 {
		msgs = append(msgs, "Reordered image sources")
	}
	cfg.Sources = out
	if err := cfg.Save(path); err != nil {
		return err
	}
	for _, m := range msgs {
		fmt.Fprintln(c.stdout, m)
	}
	return nil
}
