// Package netadm holds the network commands of a node: nictagadm, dladm
// and `hull network`, with SmartOS's output formats. Nic tags and
// etherstubs persist in the node config ($HULL_ROOT/config, else
// /etc/hull/config), in /usbkey/config form.
package netadm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"hull/internal/config"
)

// configFile is the node config file commands edit: the one in use, else
// the node's own.
func configFile(root string) string {
	for _, p := range config.Paths(root) {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return config.Paths(root)[0]
}

// setKey sets key=value in the config file, keeping every other line;
// value "" removes the key.
func setKey(path, key, value string) error {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	var out bytes.Buffer
	done := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		k, _, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok && strings.TrimSpace(k) == key && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			if !done && value != "" {
				fmt.Fprintf(&out, "%s=%s\n", key, value)
			}
			done = true
			continue
		}
		out.WriteString(line + "\n")
	}
	if !done && value != "" {
		fmt.Fprintf(&out, "%s=%s\n", key, value)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// etherstubs is the config's etherstub list.
func etherstubs(c *config.Config) []string {
	var out []string
	for _, s := range strings.Split(c.Value("etherstub", ""), ",") {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
