package imgadm

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
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
		add, del, typ                          string
		verbose, json, edit, check, help, k, f bool
	}
	rest, err := parseFlags(args,
		map[string]*bool{"v": &o.verbose, "verbose": &o.verbose, "j": &o.json, "json": &o.json,
			"e": &o.edit, "edit": &o.edit, "c": &o.check, "check": &o.check, "h": &o.help, "help": &o.help,
			"k": &o.k, "insecure": &o.k, "f": &o.f, "force": &o.f},
		map[string]*string{"a": &o.add, "add": &o.add, "d": &o.del, "del": &o.del, "t": &o.typ, "type": &o.typ})
	if err != nil {
		return err
	}
	if o.help {
		fmt.Fprint(c.stdout, commandUsage["sources"])
		return nil
	}
	if len(rest) != 0 {
		return usageErr("unexpected args (%d): %q", len(rest), strings.Join(rest, " "))
	}
	actions := 0
	for _, b := range []bool{o.add != "", o.del != "", o.edit, o.check} {
		if b {
			actions++
		}
	}
	if actions > 1 {
		return usageErr("cannot combine -a, -d, -e and -c")
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
			if have.URL == u && have.Type == typ {
				fmt.Fprintf(c.stdout, "Already have %q image source %q, no change\n", typ, u)
				return nil
			}
		}
		src, err := image.NewSource(sc)
		if err != nil {
			return &cmdError{code: "InvalidSource", status: 1, err: err}
		}
		if !o.f {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := src.Ping(ctx); err != nil {
				return &cmdError{code: "SourcePingError", status: 1, err: fmt.Errorf("unexpected ping error with image source %q (use -f to add it anyway): %w", u, err)}
			}
		}
		cfg.Sources = append(cfg.Sources, sc)
		if err := cfg.Save(path); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "Added %q image source %q\n", typ, u)
		return nil
	case o.del != "":
		u, err := image.NormalizeSourceURL(o.del)
		if err != nil {
			u = o.del
		}
		var kept []image.SourceConfig
		for _, have := range cfg.Sources {
			if have.URL != u {
				kept = append(kept, have)
			}
		}
		if len(kept) == len(cfg.Sources) {
			fmt.Fprintf(c.stdout, "Do not have image source %q, no change\n", u)
			return nil
		}
		cfg.Sources = kept
		if err := cfg.Save(path); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "Deleted image source %q\n", u)
		return nil
	case o.edit:
		return c.editSources(cfg, path)
	case o.check:
		bad := 0
		for _, sc := range cfg.Sources {
			src, err := image.NewSource(sc)
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err = src.Ping(ctx)
				cancel()
			}
			if err != nil {
				bad++
				fmt.Fprintf(c.stdout, "%s  error: %v\n", sc.URL, err)
			} else {
				fmt.Fprintf(c.stdout, "%s  ok\n", sc.URL)
			}
		}
		if bad > 0 {
			return &cmdError{code: "SourcePingError", status: 1, err: fmt.Errorf("%d of %d image sources did not answer", bad, len(cfg.Sources))}
		}
		return nil
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

// editSources opens $EDITOR on the sources, one "URL [TYPE]" per line.
func (c *cli) editSources(cfg *image.Config, path string) error {
	f, err := os.CreateTemp("", "imgadm-sources-*.txt")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	fmt.Fprintln(f, "# Image sources, one per line: URL [TYPE]. Lines starting with # are ignored.")
	for _, sc := range cfg.Sources {
		fmt.Fprintf(f, "%s %s\n", sc.URL, sc.Type)
	}
	f.Close()
	editor := os.Getenv("EDITOR")
	if editor == "" {
		editor = "vi"
	}
	cmd := exec.Command("/bin/sh", "-c", editor+` "$1"`, "editor", f.Name())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("editor %q: %w", editor, err)
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return err
	}
	var out []image.SourceConfig
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		u, err := image.NormalizeSourceURL(fields[0])
		if err != nil {
			return usageErr("%v", err)
		}
		typ := "imgapi"
		if len(fields) > 1 {
			typ = fields[1]
		}
		out = append(out, image.SourceConfig{URL: u, Type: typ})
	}
	cfg.Sources = out
	if err := cfg.Save(path); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "Updated image sources\n")
	return nil
}
