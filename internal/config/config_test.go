package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParse(t *testing.T) {
	c, err := Parse([]byte("# comment\nadmin_nic=00:11:22:33:44:55\n\npool_device=\"/dev/sdb\"\ndns_domain='example.com'\nexternal_nic = 0:1:2:3:4:5\n"))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"admin_nic": "00:11:22:33:44:55", "pool_device": "/dev/sdb", "dns_domain": "example.com", "external_nic": "0:1:2:3:4:5"} {
		if got, _ := c.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if got := c.WithSuffix("_nic"); len(got) != 2 || got[0] != "admin_nic" {
		t.Errorf("WithSuffix = %v", got)
	}
	if c.Value("missing", "d") != "d" {
		t.Error("default not used")
	}
	for _, bad := range []string{"novalue\n", "=x\n", "a b=c\n"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestLoad(t *testing.T) {
	root := t.TempDir()
	c, err := Load(root)
	if err != nil || c.Path != "" && c.Path != "/etc/hull/config" {
		t.Fatalf("Load empty: %v %q", err, c.Path)
	}
	os.WriteFile(filepath.Join(root, "config"), []byte("pool_driver=dir\n"), 0o644)
	c, err = Load(root)
	if err != nil || c.Value("pool_driver", "") != "dir" {
		t.Fatalf("Load: %v %+v", err, c)
	}
}
