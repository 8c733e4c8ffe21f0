// Package config reads the node's configuration file: SmartOS's
// /usbkey/config format (bash-sourceable key=value lines, # comments),
// kept at $HULL_ROOT/config, else /etc/hull/config. A node with no file
// runs on embedded defaults.
package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Config is the parsed file: keys in file order and their values.
type Config struct {
	Path   string // "" when no file exists
	values map[string]string
	order  []string
}

// Paths are where a node at root looks for its config, first match wins.
func Paths(root string) []string {
	return []string{filepath.Join(root, "config"), "/etc/hull/config"}
}

// Load reads the first config file that exists for the node at root; a
// node without one gets an empty Config.
func Load(root string) (*Config, error) {
	for _, p := range Paths(root) {
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read node config: %w", err)
		}
		c, err := Parse(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		c.Path = p
		return c, nil
	}
	return &Config{values: map[string]string{}}, nil
}

// Parse reads key=value lines. Values may be single- or double-quoted as
// in shell; blank lines and lines starting with # are skipped.
func Parse(b []byte) (*Config, error) {
	c := &Config{values: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("line %d: expected key=value, got %q", ln, line)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		if _, seen := c.values[k]; !seen {
			c.order = append(c.order, k)
		}
		c.values[k] = v
	}
	return c, sc.Err()
}

// Get returns a key's value and whether it is set.
func (c *Config) Get(key string) (string, bool) {
	v, ok := c.values[key]
	return v, ok
}

// Value returns a key's value, or def when it is not set.
func (c *Config) Value(key, def string) string {
	if v, ok := c.values[key]; ok {
		return v
	}
	return def
}

// Keys returns the keys in file order.
func (c *Config) Keys() []string { return append([]string(nil), c.order...) }

// WithSuffix returns the keys ending in suffix (e.g. "_nic" for nic
// tags), sorted.
func (c *Config) WithSuffix(suffix string) []string {
	var ks []string
	for _, k := range c.order {
		if strings.HasSuffix(k, suffix) {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return ks
}
