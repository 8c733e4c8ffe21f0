package managed

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"hull/internal/vm"
)

func TestStore(t *testing.T) {
	s := Open(t.TempDir(), []string{"192.0.2.53"})
	n, err := s.Create(Network{Name: "web", NicTag: "external", Subnet: "10.1.2.0/24", Gateway: "10.1.2.1", Start: "10.1.2.10", End: "10.1.2.12", Resolvers: []string{"10.1.2.53"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(Network{Name: "web", NicTag: "x", Subnet: "10.5.0.0/24"}); err == nil {
		t.Error("duplicate name accepted")
	}
	all, _ := s.List()
	if len(all) != 2 || all[0].UUID != DefaultUUID || all[1].UUID != n.UUID {
		t.Fatalf("List = %+v", all)
	}
	if got, err := s.Get("web"); err != nil || got.UUID != n.UUID {
		t.Fatalf("Get by name: %v", err)
	}
	if d, _ := s.Get(DefaultName); len(d.Resolvers) != 1 || d.Resolvers[0] != "192.0.2.53" {
		t.Errorf("default resolvers = %v", d.Resolvers)
	}
	if _, err := s.Delete(DefaultName); err == nil {
		t.Error("deleted the built-in network")
	}

	v := &vm.VM{UUID: "6b9a0a57-3e64-4b29-9a4f-0c1d9a55a001", Nics: []vm.NIC{
		{MAC: "02:00:00:00:00:01", NetworkUUID: n.UUID, Primary: true},
		{MAC: "02:00:00:00:00:02", NetworkUUID: n.UUID, IPs: []string{"dhcp"}},
		{MAC: "02:00:00:00:00:03", NetworkUUID: n.UUID, IPs: []string{"10.1.2.12/24"}},
	}}
	if err := s.Assign(v); err != nil {
		t.Fatal(err)
	}
	a := v.Nics[0]
	if strings.Join(a.IPs, ",") != "10.1.2.10/24" || a.IP != "10.1.2.10" || a.Netmask != "255.255.255.0" ||
		strings.Join(a.Gateways, ",") != "10.1.2.1" || a.NicTag != "external" {
		t.Errorf("allocated NIC = %+v", a)
	}
	if strings.Join(v.Resolvers, ",") != "10.1.2.53" {
		t.Errorf("resolvers = %v", v.Resolvers)
	}
	if strings.Join(v.Nics[1].IPs, ",") != "dhcp" {
		t.Errorf("dhcp NIC ips changed: %v", v.Nics[1].IPs)
	}
	l, _ := s.Leases(n.UUID)
	if l["02:00:00:00:00:01"].String() != "10.1.2.10" || l["02:00:00:00:00:02"].String() != "10.1.2.11" || l["02:00:00:00:00:03"].String() != "10.1.2.12" {
		t.Errorf("leases = %v", l)
	}
	// Assigning again is stable.
	if err := s.Assign(v); err != nil || v.Nics[0].IPs[0] != "10.1.2.10/24" {
		t.Errorf("second Assign: %v %v", err, v.Nics[0].IPs)
	}
	// The range is full; a static address taken by another NIC is refused.
	w := &vm.VM{UUID: "6b9a0a57-3e64-4b29-9a4f-0c1d9a55a002", Nics: []vm.NIC{{MAC: "02:00:00:00:00:09", NetworkUUID: n.UUID}}}
	if err := s.Assign(w); err == nil || !strings.Contains(err.Error(), "no free address") {
		t.Errorf("full range: %v", err)
	}
	w.Nics[0].IPs = []string{"10.1.2.11/24"}
	if err := s.Assign(w); err == nil || !strings.Contains(err.Error(), "already in use by NIC 02:00:00:00:00:02") {
		t.Errorf("taken static: %v", err)
	}
	w.Nics[0].NetworkUUID = "00000000-0000-0000-0000-00000000dead"
	if err := s.Assign(w); err == nil || !strings.Contains(err.Error(), "Invalid network_uuid") {
		t.Errorf("unknown network: %v", err)
	}
	if _, err := s.Delete("web"); err == nil || !strings.Contains(err.Error(), "in use by 3 NIC") {
		t.Errorf("delete in use: %v", err)
	}
	if err := s.Release("02:00:00:00:00:02"); err != nil {
		t.Fatal(err)
	}
	if err := s.Prune([]string{"02:00:00:00:00:01"}); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.Leases(n.UUID); len(l) != 2 {
		t.Errorf("prune dropped a fresh assignment: %v", l)
	}
	ageLeases(t, s, time.Hour)
	if err := s.Prune([]string{"02:00:00:00:00:01"}); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.Leases(n.UUID); len(l) != 1 {
		t.Errorf("after release and prune: %v", l)
	}
	s.Release("02:00:00:00:00:01")
	if _, err := s.Delete("web"); err != nil {
		t.Errorf("delete: %v", err)
	}
}

func TestFillTags(t *testing.T) {
	s := Open(t.TempDir(), nil)
	n, err := s.Create(Network{Name: "v", NicTag: "external", VlanID: 42, Subnet: "10.3.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	in := `{"brand":"joyent","add_nics":[{"network_uuid":"` + n.UUID + `"},{"nic_tag":"admin"}],"nics":[{"network_uuid":"` + DefaultUUID + `","ips":["dhcp"]}]}`
	out, err := s.FillTags([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Nics, AddNics []map[string]any
	}
	json.Unmarshal(out, &struct {
		N *[]map[string]any `json:"nics"`
		A *[]map[string]any `json:"add_nics"`
	}{&m.Nics, &m.AddNics})
	if m.AddNics[0]["nic_tag"] != "external" || m.AddNics[0]["vlan_id"] != float64(42) || m.AddNics[1]["nic_tag"] != "admin" {
		t.Errorf("add_nics = %v", m.AddNics)
	}
	if m.Nics[0]["nic_tag"] != DefaultStub {
		t.Errorf("nics = %v", m.Nics)
	}
	if _, err := s.FillTags([]byte(`{"nics":[{"network_uuid":"nope"}]}`)); err == nil {
		t.Error("unknown network accepted")
	}
	same := []byte(`{"alias":"x"}`)
	if out, _ := s.FillTags(same); string(out) != string(same) {
		t.Error("payload without networks changed")
	}
}

// ageLeases makes every assignment d older.
func ageLeases(t *testing.T, s *Store, d time.Duration) {
	l, err := s.leases()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range l {
		for mac, a := range m {
			a.Since -= int64(d / time.Second)
			m[mac] = a
		}
	}
	if err := s.saveLeases(l); err != nil {
		t.Fatal(err)
	}
}
