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
