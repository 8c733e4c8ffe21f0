// Package docs holds the user's manual; its test runs every page's
// examples against a real node.
package docs

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"hull/internal/config"
	"hull/internal/node"
	"hull/internal/testenv"
)

// examples returns the ```sh blocks under a page's "## Examples" heading.
func examples(t *testing.T, page string) []string {
	f, err := os.Open(page)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []string
	var cur strings.Builder
	inExamples, inBlock := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			inExamples = line == "## Examples"
		case inExamples && line == "```sh":
			inBlock = true
			cur.Reset()
		case inBlock && line == "```":
			inBlock = false
			blocks = append(blocks, cur.String())
		case inBlock:
			cur.WriteString(line + "\n")
		}
	}
	return blocks
}

func TestExamples(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "runc")
	bin := testenv.HullBinary(t)
	pathDir := t.TempDir()
	// Every command, as `hull install` puts them on PATH, and hull itself.
	if out, err := exec.Command(bin, "install", pathDir).CombinedOutput(); err != nil {
		t.Fatalf("hull install: %v %s", err, out)
	}
	if err := os.Symlink(bin, filepath.Join(pathDir, "hull")); err != nil {
		t.Fatal(err)
	}
	pages, _ := filepath.Glob("*.md")
	for _, page := range pages {
		blocks := examples(t, page)
		if len(blocks) == 0 {
			continue
		}
		t.Run(page, func(t *testing.T) {
			root := t.TempDir()
			os.Chmod(filepath.Dir(root), 0o711)
			t.Cleanup(func() { cleanupNode(t, bin, root) })
			for _, b := range blocks {
				// No pipefail: "cmd | grep -q x" would fail whenever grep
				// quits before cmd is done writing (SIGPIPE).
				cmd := exec.Command("bash", "-eu", "-c", b)
				cmd.Env = append(os.Environ(), "HULL_ROOT="+root, "PATH="+pathDir+":"+os.Getenv("PATH"))
				cmd.Dir = root
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("example failed: %v\n--- script\n%s--- output\n%s", err, b, out)
				}
			}
		})
	}
}

// cleanupNode deletes whatever VMs an example left, so no zone, mount or
// cgroup outlives the test.
func cleanupNode(t *testing.T, bin, root string) {
	env := append(os.Environ(), "HULL_ROOT="+root)
	c := exec.Command(bin, "vmadm", "lookup")
	c.Env = env
	out, _ := c.Output()
	for _, u := range strings.Fields(string(out)) {
		d := exec.Command(bin, "vmadm", "delete", u)
		d.Env = env
		if o, err := d.CombinedOutput(); err != nil {
			t.Errorf("cleanup delete %s: %v %s", u, err, o)
		}
	}
	// Etherstubs of the example's node config are bridges on the host.
	if c, err := config.Load(root); err == nil {
		for _, stub := range strings.Split(c.Value("etherstub", ""), ",") {
			if l, err := netlink.LinkByName(strings.TrimSpace(stub)); err == nil && stub != "" {
				netlink.LinkDel(l)
			}
		}
	}
	// A btrfs pool stays mounted (a file-backed one on a loop device)
	// until exported.
	if err := node.ExportPool(root); err != nil {
		t.Errorf("cleanup: export pool: %v", err)
	}
}
