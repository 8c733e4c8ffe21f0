package metadata

import (
	"encoding/json"
	"os"
	"os/exec"
	"testing"

	"hull/internal/testenv"
)

// cloudInitModule is where Debian's cloud-init package puts the SmartOS
// datasource.
const cloudInitModule = "/usr/lib/python3/dist-packages/cloudinit/sources/DataSourceSmartOS.py"

// TestCloudInitSmartOSDatasource runs, with Debian's python (the one that
// sees the package), cloud-init's own SmartOS datasource
// (its JoyentMetadataSocketClient and _get_data) against a server socket.
func TestCloudInitSmartOSDatasource(t *testing.T) {
	_, err := os.Stat(cloudInitModule)
	testenv.Require(t, err == nil, "cloud-init's SmartOS datasource (apt-get install cloud-init)")
	v := testVM(testUUID)
	v.Hostname = "web01"
	paths := serve(t, &Server{Source: newFake(v), Host: Host{DatacenterName: "dc1"}}, testUUID)
	out, err := exec.Command("/usr/bin/python3", "testdata/cloudinit_smartos.py", paths[testUUID], t.TempDir()).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("datasource: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for k, want := range map[string]any{
		"ok":                true,
		"instance-id":       testUUID,
		"local-hostname":    "web01", // from sdc:hostname: no "hostname" key
		"hostname":          "web01",
		"availability_zone": "dc1",
		"dns_domain":        "example.com",
		"public-keys":       "ssh-ed25519 AAAA test@host",
		"operator-script":   "echo op",
		"user-data":         "#cloud-config\nhostname: web01\n",
		"legacy-user-data":  "hello",
		"put-get":           "done",
		"after-delete":      "<gone>",
	} {
		if got[k] != want {
			t.Errorf("%s = %#v, want %#v", k, got[k], want)
		}
	}
	js := func(x any) string { b, _ := json.Marshal(x); return string(b) }
	for k, want := range map[string]string{
		"dns_servers":  `["8.8.8.8","1.1.1.1"]`,
		"routes":       `[{"dst":"10.1.0.0/16","gateway":"10.0.0.5","linklocal":true},{"dst":"172.16.0.0/12","gateway":"10.0.0.5","linklocal":true},{"dst":"192.168.0.0/24","gateway":"10.0.0.254","linklocal":false}]`,
		"keys":         `["cloud-init:user-data","dots","root_authorized_keys","user-data","user-script","docker:cmd","root_pw"]`,
		"network-data": `[{"gateway":"10.0.0.1","interface":"net0","ip":"10.0.0.5","mac":"02:08:20:aa:bb:cc","netmask":"255.255.255.0","nic_tag":"admin","primary":true}]`,
	} {
		if g := js(got[k]); g != want {
			t.Errorf("%s = %s\nwant %s", k, g, want)
		}
	}
}
