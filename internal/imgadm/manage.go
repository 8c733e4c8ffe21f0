package imgadm

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"hull/internal/image"
	"hull/internal/node"
)

func (c *cli) ancestry(args []string) error {
	var o struct {
		p, cols              string
		json, noHeader, help bool
	}
	o.cols = "uuid,name,version,published"
	rest, err := parseFlags(args,
		map[string]*bool{"j": &o.json, "json": &o.json, "H": &o.noHeader, "h": &o.help, "help": &o.help},
		map[string]*string{"P": &o.p, "o": &o.cols})
	if err != nil {
		return err
	}
	if o.help {
		fmt.Fprint(c.stdout, commandUsage["ancestry"])
		return nil
	}
	if len(rest) != 1 {
		return usageErr("incorrect number of args (%d): %q", len(rest), strings.Join(rest, " "))
	}
	if err := checkUUID(rest[0]); err != nil {
		return err
	}
	s, err := c.open(o.p)
	if err != nil {
		return err
	}
	imgs, err := s.Ancestry(rest[0])
	if err != nil && len(imgs) == 0 {
		return err
	}
	if o.json {
		if werr := writeJSON(c.stdout, imgs); werr != nil {
			return werr
		}
		return err
	}
	var rows []map[string]any
	for _, img := range imgs {
		r, rerr := row(img)
		if rerr != nil {
			return rerr
		}
		rows = append(rows, r)
	}
	// The chain's own order, not a sort.
	if werr := writeTable(c.stdout, rows, splitFields(o.cols), nil, o.noHeader); werr != nil {
		return werr
	}
	return err
}

func (c *cli) vacuum(args []string) error {
	var dry, force, help bool
	rest, err := parseFlags(args, map[string]*bool{"n": &dry, "dry-run": &dry, "f": &force, "force": &force, "h": &help, "help": &help}, nil)
	if err != nil {
		return err
	}
	if help {
		fmt.Fprint(c.stdout, commandUsage["vacuum"])
		return nil
	}
	if len(rest) != 0 {
		return usageErr("unexpected args (%d): %q", len(rest), strings.Join(rest, " "))
	}
	s, err := c.open("")
	if err != nil {
		return err
	}
	unused, err := s.Unused()
	if err != nil {
		return err
	}
	if len(unused) == 0 {
		fmt.Fprintln(c.stdout, "There are no unused images to delete.")
		return nil
	}
	if !dry && !force && term.IsTerminal(int(os.Stdin.Fd())) {
		fmt.Fprintln(c.stdout, "This will delete the following images:")
		for _, img := range unused {
			fmt.Fprintf(c.stdout, "    %s (%s@%s)\n", img.Manifest.UUID, img.Manifest.Name, img.Manifest.Version)
		}
		fmt.Fprint(c.stdout, "Would you like to continue? [y/N] ")
		ans, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(ans)); a != "y" && a != "yes" {
			fmt.Fprintln(c.stdout, "Aborting.")
			return nil
		}
	}
	prefix := ""
	if dry {
		prefix = "[dry-run] "
	}
	n := 0
	for _, img := range unused {
		m := img.Manifest
		if !dry {
			if err := s.Delete(m.UUID); err != nil {
				if errors.Is(err, image.ErrNotInstalled) {
					continue
				}
				var hc *image.HasClonesError
				if errors.As(err, &hc) {
					continue // cloned since it was listed
				}
				return err
			}
		}
		n++
		fmt.Fprintf(c.stdout, "%sDeleted image %s (%s@%s)\n", prefix, m.UUID, m.Name, m.Version)
	}
	plural := "s"
	if n == 1 {
		plural = ""
	}
	fmt.Fprintf(c.stdout, "%sDeleted %d unused image%s.\n", prefix, n, plural)
	return nil
}

// vmSource gives create a stopped VM's files, from the Env or the node.
func (c *cli) vmSource(uuid string) (*VMSource, func(), error) {
	if c.env.VM != nil {
		return c.env.VM(uuid)
	}
	n, err := node.Open(node.RootFromEnv())
	if err != nil {
		return nil, nil, err
	}
	src, release, err := n.ImageSource(uuid)
	if err != nil {
		return nil, nil, err
	}
	return &VMSource{Root: src.Root, Brand: src.Brand, ImageUUID: src.ImageUUID}, release, nil
}

func (c *cli) create(args []string) error {
	var o struct {
		m, out, comp, script, publish, maxDepth string
		incr, quiet, help                       bool
	}
	rest, err := parseFlags(args,
		map[string]*bool{"i": &o.incr, "incremental": &o.incr, "q": &o.quiet, "quiet": &o.quiet, "h": &o.help, "help": &o.help},
		map[string]*string{"m": &o.m, "o": &o.out, "output-template": &o.out, "c": &o.comp, "compression": &o.comp,
			"s": &o.script, "p": &o.publish, "publish": &o.publish, "max-origin-depth": &o.maxDepth})
	if err != nil {
		return err
	}
	if o.help {
		fmt.Fprint(c.stdout, commandUsage["create"])
		return nil
	}
	if len(rest) < 1 {
		return usageErr("missing <vm-uuid> argument")
	}
	if o.script != "" {
		return &cmdError{code: "NotSupported", status: 1, err: errors.New("-s <prepare-image-script> is not supported yet: stop the VM and create without it")}
	}
	vmUUID := rest[0]
	if err := checkUUID(vmUUID); err != nil {
		return err
	}
	fields := map[string]any{}
	if o.m != "" {
		var b []byte
		if o.m == "-" {
			b, err = readAllStdin()
		} else {
			b, err = os.ReadFile(o.m)
		}
		if err != nil {
			return fmt.Errorf("read manifest data: %w", err)
		}
		if err := json.Unmarshal(b, &fields); err != nil {
			return &cmdError{code: "InvalidManifestData", status: 1, err: fmt.Errorf("manifest data is not a JSON object: %w", err)}
		}
	}
	for _, kv := range rest[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageErr("invalid manifest field: %q (must be FIELD=VALUE)", kv)
		}
		var jv any
		if json.Unmarshal([]byte(v), &jv) != nil {
			jv = v // not JSON: a string, as SmartOS reads it
		}
		fields[k] = jv
	}
	switch o.comp {
	case "bzip2", "xz":
		return usageErr("compression %q is not supported for writing (use none, gzip or zstd)", o.comp)
	}
	s, err := c.open("")
	if err != nil {
		return err
	}
	src, release, err := c.vmSource(vmUUID)
	if err != nil {
		return err
	}
	defer release()
	opts := image.CreateOptions{Root: src.Root, Brand: src.Brand, Incremental: o.incr, Compression: o.comp, Manifest: fields}
	if src.ImageUUID != "" {
		origin, err := s.Get(src.ImageUUID)
		if err != nil {
			if o.incr {
				return fmt.Errorf("the VM's origin image: %w", err)
			}
		} else {
			opts.Origin = origin.Manifest
			ds, err := s.Mountpoint(src.ImageUUID)
			if err != nil {
				return err
			}
			opts.OriginRoot = filepath.Join(ds, "root")
		}
	} else if o.incr {
		return &cmdError{code: "VmHasNoOrigin", status: 1, err: fmt.Errorf("cannot create an incremental image: vm %q has no origin", vmUUID)}
	}
	name, _ := fields["name"].(string)
	version, _ := fields["version"].(string)
	if name == "" || version == "" {
		return usageErr("the new image's manifest needs \"name\" and \"version\" (-m or name=... version=...)")
	}
	prefix := o.out
	if prefix == "" {
		prefix = name + "-" + version
	} else if st, err := os.Stat(prefix); err == nil && st.IsDir() {
		prefix = filepath.Join(prefix, name+"-"+version)
	}
	opts.OutPrefix = prefix
	ctx, cancel := signalContext()
	defer cancel()
	out, err := image.Create(ctx, opts)
	if err != nil {
		return err
	}
	m := out.Manifest
	fmt.Fprintf(c.stdout, "Created image %s (%s@%s)\n", m.UUID, m.Name, m.Version)
	fmt.Fprintf(c.stdout, "    manifest: %s\n    file:     %s\n", out.ManifestPath, out.FilePath)
	if o.publish != "" {
		return c.publishFiles(out.ManifestPath, out.FilePath, o.publish)
	}
	return nil
}

func readAllStdin() ([]byte, error) {
	var b strings.Builder
	r := bufio.NewReader(os.Stdin)
	_, err := r.WriteTo(&b)
	return []byte(b.String()), err
}
