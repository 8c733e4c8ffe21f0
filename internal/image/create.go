package image

import (
	"archive/tar"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
)

// CreateOptions describe an image made from a VM's files (imgadm create).
type CreateOptions struct {
	// Root is the VM's root filesystem (its dataset's root/).
	Root string
	// Brand is the VM's brand; lx sets requirements.brand.
	Brand string
	// Origin is the image the VM was made from (nil for none); its
	// inheritable fields are copied into the new manifest.
	Origin *Manifest
	// Incremental makes an image holding only what differs from Origin,
	// whose files are at OriginRoot (with whiteouts for removed paths).
	Incremental bool
	OriginRoot  string
	// Compression of the file: "none" (default, as SmartOS's), "gzip",
	// "bzip2", "xz" or "zstd".
	Compression string
	// Manifest holds the fields the user gave (name and version at least).
	Manifest map[string]any
	// OutPrefix names the output: OutPrefix+".imgmanifest" and
	// OutPrefix+".tar"+(""|".gz"|".bz2"|".xz"|".zst").
	OutPrefix string
	// Logf tells of the steps as SmartOS's imgadm create does (nil: not).
	Logf func(format string, args ...any)
	// Progress, when set, is given the image file's bytes as they are
	// written, and closed when the file is complete.
	Progress io.WriteCloser
}

// Created is what Create wrote.
type Created struct {
	Manifest     *Manifest
	ManifestPath string
	FilePath     string
}

// inheritedFields are copied from the origin into a derived image, as
// IMGAPI's CreateImageFromVm does.
var inheritedFields = []string{"type", "os", "requirements", "users", "billing_tags",
	"traits", "generate_passwords", "inherited_directories", "nic_driver",
	"disk_driver", "cpu_type", "image_size"}

// Create writes an image file of o.Root and its manifest. Nothing is left
// on failure.
func Create(ctx context.Context, o CreateOptions) (_ *Created, err error) {
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	fields := map[string]any{}
	if o.Origin != nil {
		logf("Inheriting from origin image %s (%s %s)", o.Origin.UUID, o.Origin.Name, o.Origin.Version)
		b, _ := json.Marshal(o.Origin)
		var om map[string]any
		json.Unmarshal(b, &om)
		for _, f := range inheritedFields {
			if v, ok := om[f]; ok {
				fields[f] = v
			}
		}
	}
	if _, ok := fields["type"]; !ok {
		fields["type"] = "zone-dataset"
		if o.Brand == "lx" {
			fields["type"] = "lx-dataset"
		}
	}
	if _, ok := fields["os"]; !ok {
		fields["os"] = "other"
	}
	for k, v := range o.Manifest {
		fields[k] = v
	}
	if o.Brand == "lx" {
		req, _ := fields["requirements"].(map[string]any)
		if req == nil {
			req = map[string]any{}
		}
		req["brand"] = o.Brand
		fields["requirements"] = req
	}
	for _, f := range []string{"name", "version"} {
		if s, _ := fields[f].(string); s == "" {
			return nil, fmt.Errorf("image create: manifest is missing %q", f)
		}
	}
	fields["v"] = 2
	if _, ok := fields["uuid"]; !ok {
		fields["uuid"] = uuid.NewString()
	}
	if _, ok := fields["owner"]; !ok {
		fields["owner"] = "00000000-0000-0000-0000-000000000000"
	}
	fields["published_at"] = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	delete(fields, "origin")
	if o.Incremental {
		if o.Origin == nil || o.OriginRoot == "" {
			return nil, errors.New("image create: an incremental image needs the VM's origin image (the VM has none)")
		}
		fields["origin"] = o.Origin.UUID
	}
	comp := o.Compression
	if comp == "" {
		comp = "none"
	}
	e, ok := compressionExt[comp]
	if !ok {
		return nil, fmt.Errorf("image create: unsupported compression %q (must be one of: %s)", comp, strings.Join(Compressions, ", "))
	}
	if b, err := json.MarshalIndent(fields, "    ", "  "); err == nil {
		logf("Manifest:\n    %s", b)
	}
	// Check the user's fields before the long part.
	fields["files"] = []any{map[string]any{"sha1": strings.Repeat("0", 40), "size": 1, "compression": comp}}
	if _, err := manifestOf(fields); err != nil {
		return nil, err
	}

	out := &Created{ManifestPath: o.OutPrefix + ".imgmanifest", FilePath: o.OutPrefix + ".tar" + e}
	defer func() {
		if err != nil {
			os.Remove(out.FilePath)
			os.Remove(out.ManifestPath)
		}
	}()
	logf("Sending image file to \"%s\"", out.FilePath)
	f, err := os.OpenFile(out.FilePath, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("image create: %w", err)
	}
	defer f.Close()
	h := sha1.New()
	ws := []io.Writer{f, h}
	if o.Progress != nil {
		ws = append(ws, o.Progress)
		// Finished when the file is, or at a failure: what follows
		// starts on a line of its own.
		defer func() {
			if o.Progress != nil {
				o.Progress.Close()
			}
		}()
	}
	cw := &countWriter{w: io.MultiWriter(ws...)}
	zw, err := compressor(cw, comp)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	tr := &treeWriter{ctx: ctx, tw: tw, w: zw, links: map[uint64]string{}}
	if o.Incremental {
		err = tr.diff(o.Root, o.OriginRoot)
	} else {
		err = tr.all(o.Root)
	}
	if err != nil {
		return nil, fmt.Errorf("image create: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if o.Progress != nil {
		o.Progress.Close()
		o.Progress = nil
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	fields["files"] = []any{map[string]any{"sha1": hex.EncodeToString(h.Sum(nil)), "size": cw.n, "compression": comp}}
	m, err := manifestOf(fields)
	if err != nil {
		return nil, err
	}
	out.Manifest = m
	logf("Saving manifest to \"%s\"", out.ManifestPath)
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := writeFileAtomic(out.ManifestPath, append(b, '\n')); err != nil {
		return nil, fmt.Errorf("image create: %w", err)
	}
	return out, nil
}

func manifestOf(fields map[string]any) (*Manifest, error) {
	b, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	return ParseManifest(b)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
