package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hull/internal/vm"
)

func TestHostsAt(t *testing.T) {
	in := "127.0.0.1\tlocalhost\n127.0.1.1\tweb.example.com web\n10.0.0.9\tother\n"
	want := "127.0.0.1\tlocalhost\n10.0.0.5\tweb.example.com web\n10.0.0.9\tother\n"
	if got := string(hostsAt([]byte(in), "10.0.0.5")); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	v := &vm.VM{Nics: []vm.NIC{{IPs: []string{"dhcp"}}, {Primary: true, IPs: []string{"addrconf", "10.0.0.5/24"}}}}
	if ip := primaryIP(v); ip != "10.0.0.5" {
		t.Errorf("primary IP %q", ip)
	}
}

func TestWithResolvers(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"search example.com\nnameserver 1.1.1.1\nnameserver 8.8.8.8\noptions ndots:2\n", "search example.com\nnameserver 9.9.9.9\nnameserver 10.0.0.53\noptions ndots:2\n"},
		{"search example.com", "nameserver 9.9.9.9\nnameserver 10.0.0.53\nsearch example.com\n"},
		{"", "nameserver 9.9.9.9\nnameserver 10.0.0.53\n"},
	} {
		if got := string(withResolvers([]byte(c.in), []string{"9.9.9.9", "10.0.0.53"})); got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}

// TestEditZoneFileStaysInside: a zone that made its /etc a symlink to the
// host's, or its file a symlink out, gets its own file replaced inside
// its root; nothing outside changes.
func TestEditZoneFileStaysInside(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "resolv.conf")
	os.WriteFile(secret, []byte("host\n"), 0o644)
	for _, c := range []struct {
		name  string
		setup func(root string)
	}{
		{"file links out", func(root string) {
			os.MkdirAll(filepath.Join(root, "etc"), 0o755)
			os.Symlink(secret, filepath.Join(root, "etc", "resolv.conf"))
		}},
		{"directory links out", func(root string) {
			os.Symlink(outside, filepath.Join(root, "etc"))
		}},
		{"plain file", func(root string) {
			os.MkdirAll(filepath.Join(root, "etc"), 0o755)
			os.WriteFile(filepath.Join(root, "etc", "resolv.conf"), []byte("nameserver 1.1.1.1\n"), 0o600)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			c.setup(root)
			err := editZoneFile(root, "etc/resolv.conf", func(b []byte) []byte { return withResolvers(b, []string{"9.9.9.9"}) })
			if c.name == "directory links out" {
				// /etc resolves to <root>/<outside>, which does not exist.
				if err == nil {
					t.Fatal("edited through a directory that leads out")
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(secret); string(b) != "host\n" {
				t.Fatalf("the host's file changed: %q", b)
			}
			if c.name == "directory links out" {
				return
			}
			p := filepath.Join(root, "etc", "resolv.conf")
			st, err := os.Lstat(p)
			if err != nil || !st.Mode().IsRegular() {
				t.Fatalf("zone's file: %v %v", st, err)
			}
			if b, _ := os.ReadFile(p); !strings.Contains(string(b), "nameserver 9.9.9.9") {
				t.Fatalf("zone's file: %q", b)
			}
			if c.name == "plain file" && st.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600 kept", st.Mode().Perm())
			}
		})
	}
}
