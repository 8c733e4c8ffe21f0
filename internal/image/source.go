package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Source is where images come from. IMGAPI servers are one kind; other
// kinds (Docker registries) implement the same interface.
type Source interface {
	// URL is the source's URL as configured.
	URL() string
	// Type is the source's type as imgadm names it ("imgapi").
	Type() string
	// Ping checks that the source answers and is what it claims to be.
	Ping(ctx context.Context) error
	// List returns the source's active images.
	List(ctx context.Context) ([]*Manifest, error)
	// Get returns one image's manifest, checked with ParseManifest. An
	// image the source does not have is ErrNotInSource.
	Get(ctx context.Context, uuid string) (*Manifest, error)
	// OpenFile streams the image's file from byte offset on (a resumed
	// download asks for the rest).
	OpenFile(ctx context.Context, uuid string, offset int64) (io.ReadCloser, error)
}

// ErrNotInSource: the source has no (active) image with that uuid.
var ErrNotInSource = errors.New("image not found in source")

// DefaultSourceURL is the source imgadm uses when none is configured, as
// SmartOS does.
const DefaultSourceURL = "https://images.smartos.org"

// SourceTypes are the source types imgadm knows; imgapi and docker are
// implemented.
var SourceTypes = []string{"imgapi", "docker", "dsapi"}

// SourceConfig is one entry of imgadm.conf's "sources".
type SourceConfig struct {
	URL      string `json:"url"`
	Type     string `json:"type"`
	Insecure bool   `json:"insecure,omitempty"`
}

// Config is imgadm.conf, the file SmartOS keeps at /var/imgadm/imgadm.conf.
// Fields hull does not use are kept as they were.
type Config struct {
	Sources []SourceConfig
	other   map[string]json.RawMessage
	// missing: no file yet, Sources is the default.
	missing bool
}

// ConfigPath is imgadm.conf next to the image database, as SmartOS keeps
// /var/imgadm/imgadm.conf next to /var/imgadm/images.
func (s *Store) ConfigPath() string { return filepath.Join(filepath.Dir(s.dir), "imgadm.conf") }

// LoadConfig reads imgadm.conf; a missing file gives the default source.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{Sources: []SourceConfig{{URL: DefaultSourceURL, Type: "imgapi"}}, missing: true}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read imgadm config: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("imgadm config %s: %w", path, err)
	}
	c := &Config{other: raw}
	if r, ok := raw["sources"]; ok {
		if err := json.Unmarshal(r, &c.Sources); err != nil {
			return nil, fmt.Errorf("imgadm config %s: sources: %w", path, err)
		}
		delete(raw, "sources")
	} else {
		c.Sources = []SourceConfig{{URL: DefaultSourceURL, Type: "imgapi"}}
	}
	for i := range c.Sources {
		if c.Sources[i].Type == "" {
			c.Sources[i].Type = "imgapi"
		}
	}
	return c, nil
}

// Save writes the config atomically.
func (c *Config) Save(path string) error {
	out := map[string]any{}
	for k, v := range c.other {
		out[k] = v
	}
	srcs := c.Sources
	if srcs == nil {
		srcs = []SourceConfig{}
	}
	out["sources"] = srcs
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := writeFileAtomic(path, append(b, '\n')); err != nil {
		return fmt.Errorf("write imgadm config: %w", err)
	}
	return nil
}

// NormalizeSourceURL checks a source URL and gives it the form it is
// stored and compared in, as SmartOS normalises one: http:// when no
// scheme is given, no trailing slash, no port that is the scheme's own.
func NormalizeSourceURL(raw string) (string, error) {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("invalid source url: %q", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	if p := u.Port(); (u.Scheme == "http" && p == "80") || (u.Scheme == "https" && p == "443") {
		u.Host = u.Hostname()
		if strings.Contains(u.Host, ":") {
			u.Host = "[" + u.Host + "]"
		}
	}
	return u.String(), nil
}

// NewSource makes the Source a config entry describes.
func NewSource(c SourceConfig) (Source, error) {
	switch c.Type {
	case "imgapi", "":
		return NewIMGAPI(c.URL, c.Insecure)
	case "docker":
		return NewDocker(c.URL, c.Insecure)
	case "dsapi":
		return nil, fmt.Errorf("source %s: %s sources are not supported yet", c.URL, c.Type)
	}
	return nil, fmt.Errorf("source %s: unknown source type %q (must be one of: %s)", c.URL, c.Type, strings.Join(SourceTypes, ", "))
}
