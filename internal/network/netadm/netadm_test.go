package netadm

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestPrintTable(t *testing.T) {
	cols := []column{{"link", 12}, {"over", 10}, {"zone", 0}}
	rows := []map[string]string{{"link": "net0", "over": "stub0", "zone": "a:b"}}
	for _, c := range []struct {
		parse  bool
		fields string
		want   string
		err    bool
	}{
		{false, "", "LINK         OVER       ZONE\nnet0         stub0      a:b\n", false},
		{true, "link,zone", "net0:a\\:b\n", false},
		{true, "zone", "a:b\n", false},
		{true, "", "", true},
		{false, "bogus", "", true},
	} {
		var b bytes.Buffer
		err := printTable(&b, cols, rows, c.parse, c.fields)
		if (err != nil) != c.err || b.String() != c.want {
			t.Errorf("parse=%v fields=%q: %q, %v; want %q", c.parse, c.fields, b.String(), err, c.want)
		}
	}
}

func TestSetKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config")
	os.WriteFile(p, []byte("# node\nadmin_nic=02:00:00:00:00:01\netherstub=a\n"), 0o644)
	if err := setKey(p, "etherstub", "a,b"); err != nil {
		t.Fatal(err)
	}
	if err := setKey(p, "external_nic", "02:00:00:00:00:02"); err != nil {
		t.Fatal(err)
	}
	if err := setKey(p, "admin_nic", ""); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if want := "# node\netherstub=a,b\nexternal_nic=02:00:00:00:00:02\n"; string(b) != want {
		t.Errorf("config = %q, want %q", b, want)
	}
}

func TestSmartosMAC(t *testing.T) {
	hw, _ := net.ParseMAC("02:08:20:0a:00:ff")
	if got := smartosMAC(hw); got != "2:8:20:a:0:ff" {
		t.Errorf("got %s", got)
	}
}

// TestNictagadmMessages: nictagadm's output and errors are SmartOS's
// (the parts that need no bridge).
func TestNictagadmMessages(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "config"), []byte("admin_nic=2:8:20:a:b:c\netherstub=stub0\n"), 0o644)
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		rc := Nictagadm(Env{Root: root, Stdout: &out, Stderr: &errb}, args)
		return rc, out.String(), errb.String()
	}
	for _, c := range []struct {
		args     []string
		rc       int
		out, err string
	}{
		{[]string{"list"}, 0, "NAME           MACADDRESS         LINK           TYPE            \n" +
			"admin          02:08:20:0a:0b:0c  -              normal          \n" +
			"hullstub0      -                  -              etherstub       \n" +
			"stub0          -                  -              etherstub       \n", ""},
		{[]string{"exists", "hullstub0"}, 0, "", ""},
		{[]string{"list", "-p", "-L"}, 0, `admin:02\:08\:20\:0a\:0b\:0c:-:normal` + "\n", ""},
		{[]string{"exists", "admin", "stub0"}, 0, "", ""},
		{[]string{"exists", "admin", "nope", "gone"}, 1, "", "invalid tag: nope\ninvalid tag: gone\n"},
		{[]string{"exists", "-l", "nope"}, 1, "", "nope\n"},
		{[]string{"add", "admin", "2:8:20:a:b:d"}, 1, "", "Error: nic tag 'admin' already exists\n"},
		{[]string{"add", "ext"}, 1, "", "Error: create non-local tag, but no mac address specified\n"},
		{[]string{"add", "-l", "stub9", "2:8:20:a:b:d"}, 1, "", "Error: create local tag, but mac address specified\n"},
		{[]string{"add", "-l", "stubx"}, 1, "", "Error: nic tag name is invalid\n"},
		{[]string{"add", "ext", "2:8:20:a:b"}, 1, "", "Error: MAC address '2:8:20:a:b' is invalid\n"},
		{[]string{"add", "-p", "mac=2:8:20:a:b:e", "ext", "2:8:20:a:b:e"}, 1, "", "Error: mac address specified twice\n"},
		{[]string{"delete", "nope"}, 1, "", "Error: nic tag 'nope' does not exist\n"},
		{[]string{"add", "ext", "2:8:20:a:b:e"}, 0, "", ""},
		{[]string{"list", "-p", "-d", ",", "-L"}, 0, "admin,02:08:20:0a:0b:0c,-,normal\next,02:08:20:0a:0b:0e,-,normal\n", ""},
	} {
		rc, out, errs := run(c.args...)
		if rc != c.rc || out != c.out || errs != c.err {
			t.Errorf("nictagadm %v: %d %q %q, want %d %q %q", c.args, rc, out, errs, c.rc, c.out, c.err)
		}
	}
}
