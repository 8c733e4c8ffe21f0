package imgadm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
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
		return usageErr("unexpected arguments: %s", strings.Join(rest, " "))
	}
	s, err := c.open("")
	if err != nil {
		return err
	}
	imgs, err := s.Images()
	if err != nil {
		return err
	}
	unused := vacuumOrder(imgs)
	if len(unused) == 0 {
		return nil
	}
	// SmartOS asks on the terminal; without one there is no one to ask.
	if !force && term.IsTerminal(int(os.Stdin.Fd())) {
		summaries := make([]string, len(unused))
		for i, img := range unused {
			summaries[i] = fmt.Sprintf("%s (%s@%s)", img.Manifest.UUID, img.Manifest.Name, img.Manifest.Version)
		}
		fmt.Fprintf(c.stdout, "This will delete the following images:\n    %s\n", strings.Join(summaries, "\n    "))
		if len(unused) == 1 {
			fmt.Fprint(c.stdout, "Delete this image? [y/N] ")
		} else {
			fmt.Fprintf(c.stdout, "Delete these %d images? [y/N] ", len(unused))
		}
		ans, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(ans)); a != "y" && a != "yes" {
			fmt.Fprintln(c.stdout, "Aborting")
			return nil
		}
		fmt.Fprintln(c.stdout)
	}
	for _, img := range unused {
		m := img.Manifest
		if dry {
			fmt.Fprintf(c.stdout, "[dry-run] Deleted image %s (%s@%s)\n", m.UUID, m.Name, m.Version)
			continue
		}
		if err := s.Delete(m.UUID); err != nil {
			if errors.Is(err, image.ErrNotInstalled) {
				continue // deleted meanwhile
			}
			fmt.Fprintf(c.stdout, "Error deleting image %s (%s@%s): %v\n", m.UUID, m.Name, m.Version, err)
			return err
		}
		fmt.Fprintf(c.stdout, "Deleted image %s (%s@%s)\n", m.UUID, m.Name, m.Version)
	}
	return nil
}

// vacuumOrder is what vacuum deletes, in order, as SmartOS finds it: the
// images nothing is cloned from, then those whose only clones are images
// deleted before them, and so on down to the base images.
func vacuumOrder(imgs []*image.Image) []*image.Image {
	clones := map[string]map[string]bool{} // image dataset -> its clones
	byDS := map[string]*image.Image{}
	var order []string
	for _, img := range imgs {
		ds := img.Zpool + "/" + img.Manifest.UUID
		byDS[ds] = img
		order = append(order, ds)
		clones[ds] = map[string]bool{}
		for _, c := range img.CloneNames {
			clones[ds][c] = true
		}
	}
	var out []*image.Image
	for {
		var round []string
		for _, ds := range order {
			if cs, ok := clones[ds]; ok && len(cs) == 0 {
				round = append(round, ds)
			}
		}
		if len(round) == 0 {
			return out
		}
		for _, ds := range round {
			delete(clones, ds)
			for _, cs := range clones {
				delete(cs, ds)
			}
			out = append(out, byDS[ds])
		}
	}
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

// createCompressions are what create writes: SmartOS's, and zstd.
var createCompressions = []string{"none", "bzip2", "gzip", "xz", "zstd"}

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
	var script []byte
	if o.script != "" {
		if script, err = os.ReadFile(o.script); err != nil {
			return fmt.Errorf("read prepare-image script: %w", err)
		}
	}
	maxDepth := 0
	if o.maxDepth != "" {
		if maxDepth, err = strconv.Atoi(o.maxDepth); err != nil || maxDepth < 2 {
			return usageErr("invalid max-origin-depth %q: must be greater than 1", o.maxDepth)
		}
	}
	vmUUID := rest[0]
	if err := checkUUID(vmUUID); err != nil {
		return err
	}
	if o.comp != "" && !slices.Contains(createCompressions, o.comp) {
		return usageErr("invalid -c,--compression %q: must be one of \"%s\"", o.comp, strings.Join(createCompressions, `", "`))
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
		if stringFields[k] || json.Unmarshal([]byte(v), &jv) != nil {
			// Not JSON, or a field that can only be a string
			// ("version=2.0" is not the number 2): the string.
			jv = v
		}
		fields[k] = jv
	}
	s, err := c.open("")
	if err != nil {
		return err
	}
	name, _ := fields["name"].(string)
	version, _ := fields["version"].(string)
	if name == "" || version == "" {
		return usageErr("the new image's manifest needs \"name\" and \"version\" (-m or name=... version=...)")
	}
	if script != nil {
		// Prepared, the VM is stopped for the image to be made; it is
		// restored afterwards, made or not (after release, below).
		cleanup, err := c.prepare(vmUUID, string(script), func(imageUUID string) error {
			// As SmartOS, the origin depth is checked before the VM is
			// touched.
			if origin, err := s.Get(imageUUID); maxDepth > 0 && err == nil {
				return checkOriginDepth(s, origin.Manifest, maxDepth)
			}
			return nil
		})
		if err != nil {
			return err
		}
		defer func() {
			if cerr := cleanup(); cerr != nil {
				fmt.Fprintf(c.stderr, "imgadm: restoring VM %s after its preparation: %v\n", vmUUID, cerr)
			}
		}()
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
	if maxDepth > 0 && opts.Origin != nil {
		if err := checkOriginDepth(s, opts.Origin, maxDepth); err != nil {
			return err
		}
	}
	prefix := o.out
	if o.publish != "" {
		// As SmartOS: -p writes the files to a temporary place, and
		// removes them once published.
		if o.out != "" {
			return usageErr("cannot specify both -o,--output-template and -p,--publish")
		}
		dir, err := os.MkdirTemp("", "imgadm-create-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		prefix = filepath.Join(dir, name+"-"+version)
	} else if prefix == "" {
		prefix = name + "-" + version
	} else if st, err := os.Stat(prefix); err == nil && st.IsDir() {
		prefix = filepath.Join(prefix, name+"-"+version)
	}
	opts.OutPrefix = prefix
	// SmartOS's create tells of its steps, -q or not (-q only silences
	// the progress bar).
	opts.Logf = func(format string, args ...any) { fmt.Fprintf(c.stdout, format+"\n", args...) }
	if c.showProgress(o.quiet) {
		// The file's size is known only when it is written.
		id, _ := fields["uuid"].(string)
		if id == "" {
			id = uuid.NewString()
			fields["uuid"] = id
		}
		opts.Progress = c.bar(-1, id)
	}
	ctx, cancel := signalContext()
	defer cancel()
	out, err := image.Create(ctx, opts)
	if err != nil {
		return err
	}
	if o.publish != "" {
		// The files were only the way to the server.
		defer os.Remove(out.ManifestPath)
		defer os.Remove(out.FilePath)
		return c.publishFiles(out.ManifestPath, out.FilePath, o.publish, o.quiet)
	}
	return nil
}

// prepare runs a prepare-image script in the VM (create -s), after check
// passed for the VM's image; cleanup restores the VM.
func (c *cli) prepare(uuid, script string, check func(imageUUID string) error) (cleanup func() error, err error) {
	n, err := node.Open(node.RootFromEnv())
	if err != nil {
		return nil, err
	}
	v, err := n.Get(uuid)
	if err != nil {
		return nil, &cmdError{code: "VmNotFound", status: 1, err: fmt.Errorf("vm %q not found", uuid)}
	}
	if v.ImageUUID != "" {
		if err := check(v.ImageUUID); err != nil {
			return nil, err
		}
	}
	cleanup, err = n.PrepareImage(context.Background(), uuid, script, func(f string, a ...any) {
		fmt.Fprintf(c.stdout, f+"\n", a...)
	})
	var pe *node.PrepareError
	if errors.As(err, &pe) {
		return nil, &cmdError{code: pe.Code, status: 1, err: err}
	}
	return cleanup, err
}

// checkOriginDepth refuses an image whose origin chain, from origin up,
// is deeper than max images (SmartOS's --max-origin-depth).
func checkOriginDepth(s *image.Store, origin *image.Manifest, max int) error {
	depth := 1
	for m := origin; m.Origin != ""; depth++ {
		if depth >= max {
			return &cmdError{code: "MaxOriginDepth", status: 1,
				err: fmt.Errorf("cannot create image: maximum origin depth \"%d\" has been reached", max)}
		}
		img, err := s.Get(m.Origin)
		if err != nil {
			return err
		}
		m = img.Manifest
	}
	return nil
}

// stringFields are the manifest fields whose values are strings: a
// FIELD=VALUE argument for one is taken as it is, not parsed as JSON.
var stringFields = map[string]bool{
	"uuid": true, "urn": true, "owner": true, "name": true, "version": true,
	"description": true, "homepage": true, "eula": true, "type": true, "os": true,
	"origin": true, "published_at": true, "nic_driver": true, "disk_driver": true,
	"cpu_type": true,
}

func readAllStdin() ([]byte, error) {
	var b strings.Builder
	r := bufio.NewReader(os.Stdin)
	_, err := r.WriteTo(&b)
	return []byte(b.String()), err
}
