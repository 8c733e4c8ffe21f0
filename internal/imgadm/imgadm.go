// Package imgadm is the imgadm command: SmartOS's image administration
// tool over hull's local image store, with SmartOS's output, messages and
// exit codes (0 ok, 1 error, 2 usage, 3 image not installed).
package imgadm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"hull/internal/image"
	"hull/internal/pool"
)

// Env is what the command needs from its process.
type Env struct {
	// Open opens the image store (the node's, or one under a test root).
	Open func() (*image.Store, error)
	// VM gives `imgadm create` a stopped VM's files, held stopped until
	// release is called. Nil uses the node at HULL_ROOT.
	VM func(uuid string) (src *VMSource, release func(), err error)
	// DownloadIdleTimeout ends a download that stalls this long (0: 60 s).
	DownloadIdleTimeout time.Duration
	// Progress forces the progress bar on (true) or off (false); nil shows
	// it when stderr is a terminal.
	Progress *bool
}

// VMSource is what `imgadm create` reads of a VM.
type VMSource struct {
	Root      string // the VM's root filesystem
	Brand     string
	ImageUUID string // the image it was created from, "" for none
}

const usage = `Usage:
    imgadm [<options>] <command> [<args>...]
    imgadm help <command>

Options:
    -h, --help                  Print help and exit.
    --version                   Print version and exit.
    -v, --verbose               Verbose output.
    -E                          On error, emit a structured JSON error object
                                as the last line of stderr output.

Commands:
    imgadm help [<command>]                help on commands

    imgadm sources [<options>]             list and edit image sources

    imgadm avail [<filters>]               list available images
    imgadm show <uuid>                     show manifest of an available image

    imgadm import [-P <pool>] [-S <url>] [-q] <uuid>
                                           import image from a source
    imgadm install [-P <pool>] -m <manifest> -f <file>
                                           import from local image data

    imgadm list [<filters>]                list installed images
    imgadm get [-P <pool>] [-r] <uuid>     info on an installed image
    imgadm update [-n] [<uuid>...]         update installed images
    imgadm delete [-P <pool>] <uuid>       remove an installed image
    imgadm ancestry [-P <pool>] <uuid>     show ancestry of an installed image
    imgadm vacuum [-n] [-f]                delete unused images

    imgadm create [<options>] <vm-uuid> [<manifest-field>=<value> ...]
                                           create an image from a VM
    imgadm publish [<options>] -m <manifest> -f <file> <imgapi-url>
                                           publish an image to an image repo
`

var commandUsage = map[string]string{
	"install": `Install an image from local manifest and image data files.

Usage:
    imgadm install [<options>] -m <manifest> -f <file>

Options:
    -h, --help        Show this help.
    -m <manifest>     Required. Path to the image manifest file to import.
    -f <file>         Required. Path to the image file to import.
    -q, --quiet       Disable progress bar.
    -P <pool>         Name of zpool in which to look for the image. Default is "zones".

    imgadm install [-q] [-P <pool>] --docker-archive <path> [<repo:tag>]

    --docker-archive <path>
                      Install a docker image from a "docker save" archive or
                      an OCI image layout directory, one image per layer.
                      <repo:tag> picks an image when there are several.
`,
	"list": `List locally installed images.

Usage:
    imgadm list [<options>...] [<filters>]

Options:
` + tableOptions("uuid,name,version,os,type,pub") + sortOption + `
    --docker          Limit and format list similar to ` + "`docker images`" + `.

Filters:
    FIELD=VALUE               exact string match
    FIELD=true|false          boolean match
    FIELD=~SUBSTRING          substring match

Fields for filtering, "-o" and "-s":
    Any of the manifest fields (see ` + "`imgadm list -j`" + ` output) plus the
    following computed fields for convenience.

    published_date, pub       just the date part of ` + "`published_at`" + `
    published                 ` + "`published_at`" + ` with the milliseconds removed
    source                    the source URL, if available
    clones                    the number of clones (dependent images and VMs)
    size                      the size, in bytes, of the image file
` + dockerFieldsHelp,
	"get": `Get information for an installed image.

Usage:
    imgadm get <uuid>

Options:
    -h, --help        Show this help.
    -P <pool>         Name of zpool in which to look for the image. Default is "zones".
    -r                Recursively gather children (child snapshots and dependent clones).
`,
	"delete": `Delete an image from the local zpool.

The removal can only succeed if the image is not actively in use by a VM.

Usage:
    imgadm delete <uuid>

Options:
    -h, --help        Show this help.
    -P <pool>         Name of zpool in which to look for the image. Default is "zones".
`,
}

// dockerFieldsHelp lists the computed fields of docker images.
const dockerFieldsHelp = `
    In addition if this is a docker image, then the following:

    docker_id                 the full docker id string
    docker_short_id           the short 12 character docker id
    docker_repo               the docker repo from which this image
                              originates, if available
    docker_tags               a JSON array of docker repo tags, if available
`

// cmdError is an error with SmartOS's code and exit status.
type cmdError struct {
	code   string // "ImageNotInstalled", … ("" prints none)
	status int
	err    error
}

func (e *cmdError) Error() string { return e.err.Error() }

// codeOr is the error's code, or def when it has none.
func (e *cmdError) codeOr(def string) string {
	if e.code == "" {
		return def
	}
	return e.code
}
func (e *cmdError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &cmdError{code: "Usage", status: 2, err: fmt.Errorf(format, args...)}
}

// Main runs imgadm with args (without the program name).
func Main(args []string, stdout, stderr io.Writer, env Env) int {
	// Global options come before the command.
	structured := false
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-h", "--help":
			fmt.Fprint(stdout, usage)
			return 0
		case "--version":
			fmt.Fprintln(stdout, "imgadm "+version())
			return 0
		case "-v", "--verbose":
			// Trace logging on stderr: the requests to sources, at least.
			slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
			args = args[1:]
		case "-E":
			structured = true
			args = args[1:]
		default:
			fmt.Fprintf(stderr, "imgadm: error (UnknownOption): unknown option: %q\n", args[0])
			fmt.Fprint(stderr, usage)
			return 2
		}
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "destroy":
		sub = "delete"
	case "info":
		sub = "get"
	case "available":
		sub = "avail"
	}
	c := &cli{stdout: stdout, stderr: stderr, env: env}
	var err error
	switch sub {
	case "help", "?":
		if len(args) > 0 {
			if u, ok := commandUsage[args[0]]; ok {
				fmt.Fprint(stdout, u)
				return 0
			}
		}
		fmt.Fprint(stdout, usage)
		return 0
	case "install":
		err = c.install(args)
	case "list":
		err = c.list(args)
	case "get":
		err = c.get(args)
	case "delete":
		err = c.delete(args)
	case "sources":
		err = c.sources(args)
	case "avail":
		err = c.avail(args)
	case "show":
		err = c.show(args)
	case "import":
		err = c.importImage(args)
	case "update":
		err = c.update(args)
	case "ancestry":
		err = c.ancestry(args)
	case "vacuum":
		err = c.vacuum(args)
	case "create":
		err = c.create(args)
	case "publish":
		err = c.publish(args)
	default:
		fmt.Fprintf(stderr, "imgadm: error (UnknownCommand): unknown command: %q\n", sub)
		fmt.Fprint(stderr, usage)
		return 2
	}
	if err == nil {
		return 0
	}
	ce := classify(err)
	if structured {
		// -E: the error as one JSON object, the last line of stderr, in
		// place of the message (SmartOS logs it as a bunyan record).
		b, _ := json.Marshal(map[string]any{"name": "imgadm", "level": 50, "msg": err.Error(),
			"err": map[string]any{"message": err.Error(), "code": ce.codeOr("InternalError"), "exitStatus": ce.status}})
		fmt.Fprintf(stderr, "%s\n", b)
		return ce.status
	}
	code := ""
	if ce.code != "" {
		code = " (" + ce.code + ")"
	}
	// cmdln's format, as imgadm runs it (showCode: true); a message that
	// ends in a server's newline ends the line once.
	fmt.Fprintf(stderr, "imgadm %s: error%s: %s\n", sub, code, strings.TrimRight(err.Error(), "\n"))
	if ce.status == 2 {
		if u, ok := commandUsage[sub]; ok {
			fmt.Fprint(stderr, u)
		}
	}
	return ce.status
}

// version is hull's build (its VCS revision when the build recorded it).
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, st := range bi.Settings {
			if st.Key == "vcs.revision" && len(st.Value) >= 12 {
				return "hull-" + st.Value[:12]
			}
		}
	}
	return "hull"
}

// classify gives an error its SmartOS code and exit status.
func classify(err error) *cmdError {
	var ce *cmdError
	if errors.As(err, &ce) {
		return ce
	}
	var ve *image.ValidationError
	var ae *image.APIError
	switch {
	case errors.Is(err, image.ErrNotInstalled):
		return &cmdError{code: "ImageNotInstalled", status: 3, err: err}
	case errors.As(err, &ve):
		return &cmdError{code: "ManifestValidation", status: 1, err: err}
	case errors.Is(err, image.ErrInvalidManifest):
		return &cmdError{code: "InvalidManifest", status: 1, err: err}
	case errors.Is(err, pool.ErrHasDependents):
		return &cmdError{code: "ImageHasDependentClones", status: 1, err: err}
	case errors.Is(err, image.ErrFileCorrupt):
		return &cmdError{code: "DownloadError", status: 1, err: err}
	case errors.Is(err, image.ErrNotInSource):
		return &cmdError{code: "ActiveImageNotFound", status: 1, err: err}
	case errors.As(err, &ae) && ae.Code != "":
		// A source's error keeps the source's code, as SmartOS's APIError.
		return &cmdError{code: ae.Code, status: 1, err: err}
	}
	return &cmdError{status: 1, err: err}
}

type cli struct {
	stdout, stderr io.Writer
	env            Env
	store          *image.Store
}

func (c *cli) open(poolName string) (*image.Store, error) {
	if c.store == nil {
		s, err := c.env.Open()
		if err != nil {
			return nil, err
		}
		c.store = s
	}
	if poolName != "" && poolName != c.store.Pool() {
		return nil, fmt.Errorf("zpool %q is not hull's image pool (%q)", poolName, c.store.Pool())
	}
	return c.store, nil
}

func checkUUID(u string) error {
	if !image.ValidUUID(u) {
		return &cmdError{code: "InvalidUUID", status: 1, err: fmt.Errorf("invalid uuid: %q", u)}
	}
	return nil
}

func (c *cli) install(args []string) error {
	var o struct {
		m, f, p, docker string
		quiet, help     bool
	}
	rest, err := parseFlags(args, map[string]*bool{"q": &o.quiet, "quiet": &o.quiet, "h": &o.help, "help": &o.help},
		map[string]*string{"m": &o.m, "f": &o.f, "P": &o.p, "docker-archive": &o.docker})
	if err != nil {
		return err
	}
	if o.help {
		fmt.Fprint(c.stdout, commandUsage["install"])
		return nil
	}
	if o.docker != "" {
		if len(rest) > 1 || o.m != "" || o.f != "" {
			return usageErr("--docker-archive takes no -m or -f, and at most one <repo:tag>")
		}
		ref := ""
		if len(rest) == 1 {
			ref = rest[0]
		}
		return c.installDocker(o.docker, ref, o.p, o.quiet)
	}
	if len(rest) != 0 {
		return usageErr("unexpected args (%d): %q", len(rest), strings.Join(rest, " "))
	}
	if o.m == "" {
		return usageErr("-m <manifest> is required")
	}
	if o.f == "" {
		return usageErr("-f <file> is required")
	}
	if _, err := os.Stat(o.m); err != nil {
		return &cmdError{code: "Usage", status: 1, err: fmt.Errorf("manifest path does not exist: %q", o.m)}
	}
	if _, err := os.Stat(o.f); err != nil {
		return &cmdError{code: "Usage", status: 1, err: fmt.Errorf("file path does not exist: %q", o.f)}
	}
	b, err := os.ReadFile(o.m)
	if err != nil {
		return err
	}
	m, err := image.ParseManifest(b)
	if err != nil {
		return err
	}
	s, err := c.open(o.p)
	if err != nil {
		return err
	}
	if have, err := s.Get(m.UUID); err == nil {
		fmt.Fprintf(c.stdout, "Image %s (%s %s) is already installed, skipping\n", m.UUID, have.Manifest.Name, have.Manifest.Version)
		return nil
	}
	fmt.Fprintf(c.stdout, "Installing image %s (%s@%s)\n", m.UUID, m.Name, m.Version)
	// An interrupted install cleans up after itself.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := c.installFile(ctx, s, m, o.f, o.quiet); err != nil {
		var ai *image.AlreadyInstalledError
		if errors.As(err, &ai) {
			// Installed by someone else while we waited for the lock.
			fmt.Fprintf(c.stdout, "Image %s (%s@%s) was installed while waiting on lock\n", m.UUID, m.Name, m.Version)
			return nil
		}
		return err
	}
	fmt.Fprintf(c.stdout, "Installed image %s (%s@%s)\n", m.UUID, m.Name, m.Version)
	return nil
}

// installFile installs m from a local file, with a progress bar on a
// terminal unless quiet. A file whose size is not the manifest's is
// refused before anything is made, with SmartOS's message.
func (c *cli) installFile(ctx context.Context, s *image.Store, m *image.Manifest, path string, quiet bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("image file: %w", err)
	}
	defer f.Close()
	opts := image.InstallOptions{Waiting: func() {
		fmt.Fprintf(c.stdout, image.LockWaitMessage+"\n", m.UUID)
	}}
	if !c.showProgress(quiet) {
		_, err = s.InstallManifest(ctx, m, path, opts)
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("image file: %w", err)
	}
	if len(m.Files) > 0 && m.Files[0].Size > 0 && m.Files[0].Size != st.Size() {
		return &cmdError{code: "DownloadError", status: 1, err: fmt.Errorf("image file size error: manifest says %d bytes, %s is %d bytes", m.Files[0].Size, path, st.Size())}
	}
	bar := c.bar(st.Size(), m.UUID)
	defer bar.Close()
	_, err = s.InstallStream(ctx, m, io.TeeReader(f, bar), path, opts)
	return err
}

// getInfo is `imgadm get`'s answer: the image's database record, and
// with -r its children (snapshots of its dataset, and the datasets
// cloned from it), as SmartOS prints them.
type getInfo struct {
	*image.Image
	Children *children `json:"children,omitempty"`
}

type children struct {
	Snapshots []string `json:"snapshots"`
	Clones    []string `json:"clones"`
}

func (c *cli) get(args []string) error {
	var p string
	var help, recursive bool
	rest, err := parseFlags(args, map[string]*bool{"h": &help, "help": &help, "r": &recursive}, map[string]*string{"P": &p})
	if err != nil {
		return err
	}
	if help {
		fmt.Fprint(c.stdout, commandUsage["get"])
		return nil
	}
	s, uuid, err := c.oneImageArgs(rest, p)
	if err != nil {
		return err
	}
	img, err := s.Get(uuid)
	if err != nil {
		return err
	}
	out := getInfo{Image: img}
	if recursive {
		ch := &children{Snapshots: []string{}, Clones: []string{}}
		snaps, err := s.Snapshots(uuid)
		if err != nil {
			return err
		}
		ch.Snapshots = append(ch.Snapshots, snaps...)
		clones, err := s.Clones(uuid)
		if err != nil {
			return err
		}
		ch.Clones = append(ch.Clones, clones...)
		out.Children = ch
	}
	return writeJSON(c.stdout, out)
}

func (c *cli) delete(args []string) error {
	s, uuid, err := c.oneImage("delete", args)
	if s == nil || err != nil {
		return err
	}
	if err := s.Delete(uuid); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "Deleted image %s\n", uuid)
	return nil
}

// oneImage parses the arguments of a command that takes [-P pool] and one
// image uuid, and opens the store. With -h it prints the command's usage
// and returns a nil store and no error.
func (c *cli) oneImage(cmd string, args []string) (*image.Store, string, error) {
	var p string
	var help bool
	rest, err := parseFlags(args, map[string]*bool{"h": &help, "help": &help}, map[string]*string{"P": &p})
	if err != nil {
		return nil, "", err
	}
	if help {
		fmt.Fprint(c.stdout, commandUsage[cmd])
		return nil, "", nil
	}
	return c.oneImageArgs(rest, p)
}

// oneImageArgs checks that rest is one image uuid and opens pool p.
func (c *cli) oneImageArgs(rest []string, p string) (*image.Store, string, error) {
	if len(rest) != 1 {
		return nil, "", usageErr("incorrect number of args (%d): %q", len(rest), strings.Join(rest, " "))
	}
	if err := checkUUID(rest[0]); err != nil {
		return nil, "", err
	}
	s, err := c.open(p)
	if err != nil {
		return nil, "", err
	}
	return s, rest[0], nil
}

// writeJSON prints v as JSON.stringify(v, null, 2) does.
func writeJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// parseFlags parses getopt-style options mixed with arguments: -x, -xy,
// -o value, -ovalue, --long, --long=value, and "--" to end options.
func parseFlags(args []string, bools map[string]*bool, strs map[string]*string) ([]string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(rest, args[i+1:]...), nil
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			if b, ok := bools[name]; ok && len(name) > 1 && !hasVal {
				*b = true
			} else if s, ok := strs[name]; ok && len(name) > 1 {
				if !hasVal {
					if i+1 >= len(args) {
						return nil, usageErr("do not have enough args for %q option", a)
					}
					i++
					val = args[i]
				}
				*s = val
			} else {
				return nil, &cmdError{code: "UnknownOption", status: 2, err: fmt.Errorf("unknown option: %q", a)}
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for j := 1; j < len(a); j++ {
				name := a[j : j+1]
				if b, ok := bools[name]; ok {
					*b = true
					continue
				}
				s, ok := strs[name]
				if !ok {
					return nil, &cmdError{code: "UnknownOption", status: 2, err: fmt.Errorf("unknown option: %q", "-"+name)}
				}
				if j+1 < len(a) {
					*s = a[j+1:]
				} else if i+1 < len(args) {
					i++
					*s = args[i]
				} else {
					return nil, usageErr("do not have enough args for %q option", "-"+name)
				}
				break
			}
		default:
			rest = append(rest, a)
		}
	}
	return rest, nil
}
