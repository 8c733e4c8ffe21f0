package imgadm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"hull/internal/image"
)

func (c *cli) publish(args []string) error {
	var o struct {
		m, f        string
		quiet, help bool
	}
	rest, err := parseFlags(args, map[string]*bool{"q": &o.quiet, "quiet": &o.quiet, "h": &o.help, "help": &o.help},
		map[string]*string{"m": &o.m, "f": &o.f})
	if err != nil {
		return err
	}
	if o.help {
		fmt.Fprint(c.stdout, commandUsage["publish"])
		return nil
	}
	if o.m == "" {
		return usageErr("-m <manifest> is required")
	}
	if o.f == "" {
		return usageErr("-f <file> is required")
	}
	if len(rest) != 1 {
		return usageErr("incorrect number of args (%d): %q", len(rest), strings.Join(rest, " "))
	}
	return c.publishFiles(o.m, o.f, rest[0], o.quiet)
}

// publishFiles uploads an image to an IMGAPI server as SmartOS's imgadm
// does: AdminImportImage, AddImageFile (the server's sha1 and size of the
// upload checked against the manifest), ActivateImage; a failure after
// the import deletes the half-published image. IMGADM_TOKEN is the token
// a hull IMGAPI server asks for.
func (c *cli) publishFiles(manifestPath, filePath, url string, quiet bool) (err error) {
	if _, err := os.Stat(manifestPath); err != nil {
		return &cmdError{code: "Usage", status: 1, err: fmt.Errorf("manifest path does not exist: %q", manifestPath)}
	}
	if _, err := os.Stat(filePath); err != nil {
		return &cmdError{code: "Usage", status: 1, err: fmt.Errorf("file path does not exist: %q", filePath)}
	}
	b, err := os.ReadFile(manifestPath)
	if err != nil {
		return err
	}
	// The server validates the manifest, as it does SmartOS's: here it
	// need only be JSON with a uuid and a file.
	m := &image.Manifest{}
	if err := json.Unmarshal(b, m); err != nil {
		return &cmdError{code: "InvalidManifest", status: 1, err: fmt.Errorf("manifest is invalid: %w", err)}
	}
	if !image.ValidUUID(m.UUID) {
		return &cmdError{code: "InvalidUUID", status: 1, err: fmt.Errorf("invalid uuid: %q", m.UUID)}
	}
	if len(m.Files) == 0 || m.Files[0].Compression == "" {
		return &cmdError{code: "ManifestValidation", status: 1, err: fmt.Errorf("invalid manifest: files (manifest %s has no \"files[0].compression\")", manifestPath)}
	}
	want := m.Files[0]
	f, err := os.Open(filePath)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	client, err := image.NewIMGAPI(url, os.Getenv("IMGADM_INSECURE") == "1")
	if err != nil {
		return usageErr("%v", err)
	}
	client.Token = os.Getenv("IMGADM_TOKEN")
	ctx, cancel := signalContext()
	defer cancel()

	im, err := client.ImportImage(ctx, m.UUID, b)
	if err != nil {
		return remoteErr(url, err)
	}
	fmt.Fprintf(c.stdout, "Imported image %s (%s, %s, state=%s)\n", im.UUID, im.Name, im.Version, im.State)
	defer func() {
		if err == nil {
			return
		}
		// Not left half-published (a server without the token's rights
		// to delete keeps it, said as SmartOS says it).
		if derr := client.DeleteImage(context.Background(), m.UUID); derr != nil {
			fmt.Fprintf(c.stdout, "Warning: Could not delete partially published image %s: %v\n", m.UUID, derr)
		}
	}()

	var body io.Reader = f
	if c.showProgress(quiet) {
		bar := c.bar(st.Size(), m.UUID)
		defer bar.Close()
		body = io.TeeReader(f, bar)
	}
	added, err := client.AddImageFile(ctx, m.UUID, body, st.Size(), want)
	if err != nil {
		return remoteErr(url, err)
	}
	fmt.Fprintf(c.stdout, "Added file %q (compression %q) to image %s\n", filePath, want.Compression, m.UUID)
	if len(added.Files) == 0 {
		return &cmdError{code: "UploadError", status: 1, err: fmt.Errorf("image %s has no file after the upload", m.UUID)}
	}
	if got := added.Files[0]; want.SHA1 != "" && got.SHA1 != want.SHA1 {
		return &cmdError{code: "UploadError", status: 1, err: fmt.Errorf("sha1 expected to be %s, but was %s", want.SHA1, got.SHA1)}
	} else if want.Size != 0 && got.Size != want.Size {
		return &cmdError{code: "UploadError", status: 1, err: fmt.Errorf("size expected to be %d, but was %d", want.Size, got.Size)}
	}
	if _, err := client.ActivateImage(ctx, m.UUID); err != nil {
		return remoteErr(url, err)
	}
	fmt.Fprintf(c.stdout, "Activated image %s\n", m.UUID)
	fmt.Fprintf(c.stdout, "Successfully published image %s to %s\n", m.UUID, url)
	return nil
}

// remoteErr says an IMGAPI error as SmartOS's imgadm does: the server's
// code as the error's, its message after the server's URL, one line per
// field of a validation error.
func remoteErr(url string, err error) error {
	var ae *image.APIError
	if !errors.As(err, &ae) || ae.Code == "" {
		return &cmdError{code: "ClientError", status: 1, err: fmt.Errorf("%s: %w", url, err)}
	}
	msg := ae.Message
	for _, fe := range ae.Errors {
		msg += fmt.Sprintf("\n    %s: %s", fe.Field, fe.Code)
		if fe.Message != "" {
			msg += ": " + fe.Message
		}
	}
	return &cmdError{code: ae.Code, status: 1, err: fmt.Errorf("%s: %s", url, msg)}
}
