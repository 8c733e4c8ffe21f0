package imgadm

import (
	"fmt"
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
	return c.publishFiles(o.m, o.f, rest[0])
}

// publishFiles uploads an image to an IMGAPI server; IMGADM_TOKEN is the
// token a hull IMGAPI server asks for.
func (c *cli) publishFiles(manifestPath, filePath, url string) error {
	b, err := os.ReadFile(manifestPath)
	if err != nil {
		return &cmdError{code: "Usage", status: 1, err: fmt.Errorf("manifest path does not exist: %q", manifestPath)}
	}
	m, err := image.ParseManifest(b)
	if err != nil {
		return err
	}
	f, err := os.Open(filePath)
	if err != nil {
		return &cmdError{code: "Usage", status: 1, err: fmt.Errorf("file path does not exist: %q", filePath)}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if len(m.Files) == 0 {
		return &cmdError{code: "ManifestValidation", status: 1, err: fmt.Errorf("manifest %s has no \"files\"", manifestPath)}
	}
	if m.Files[0].Size != st.Size() {
		return &cmdError{code: "DownloadError", status: 1, err: fmt.Errorf("image file size error: manifest says %d bytes, %s is %d bytes", m.Files[0].Size, filePath, st.Size())}
	}
	client, err := image.NewIMGAPI(url, os.Getenv("IMGADM_INSECURE") == "1")
	if err != nil {
		return usageErr("%v", err)
	}
	client.Token = os.Getenv("IMGADM_TOKEN")
	ctx, cancel := signalContext()
	defer cancel()
	out, err := client.Publish(ctx, m, f, st.Size())
	if err != nil {
		return &cmdError{code: "UploadError", status: 1, err: err}
	}
	fmt.Fprintf(c.stdout, "Published image %s (%s@%s, state=%s) to %s\n", out.UUID, out.Name, out.Version, out.State, url)
	return nil
}
