package metadata

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"hull/internal/metadata/protocol"
	"hull/internal/vm"
)

// Host holds node facts that the VM object may lack: SmartOS fills
// sdc:server_uuid and sdc:datacenter_name from the compute node.
type Host struct {
	ServerUUID     string
	DatacenterName string
}

// Get answers GET key for v, following SmartOS's metadata agent:
//   - "sdc:" keys are the VM's own properties, flattened (sdc:nics.0.ip),
//     with sdc:nics, sdc:resolvers, sdc:tmpfs and sdc:routes as JSON and
//     sdc:operator-script and sdc:volumes from internal_metadata;
//   - keys ending "_pw" and keys in one of internal_metadata_namespaces
//     come from internal_metadata;
//   - every other key comes from customer_metadata.
func Get(v *vm.VM, key string, h Host) protocol.Reply {
	if prop, ok := strings.CutPrefix(key, "sdc:"); ok {
		return getSDC(v, prop, h)
	}
	m := v.CustomerMetadata
	if internalKey(v, key) {
		m = v.InternalMetadata
	}
	if val, ok := m[key]; ok {
		return protocol.Reply{Code: protocol.Success, Data: val}
	}
	return protocol.Reply{Code: protocol.NotFound}
}

// internalKey says whether key lives in internal_metadata.
func internalKey(v *vm.VM, key string) bool {
	return strings.HasSuffix(key, "_pw") || namespace(v, key) != ""
}

// namespace returns the internal namespace key belongs to, or "".
func namespace(v *vm.VM, key string) string {
	prefix, _, ok := strings.Cut(key, ":")
	if ok && slices.Contains(v.InternalMetadataNamespaces, prefix) {
		return prefix
	}
	return ""
}

func getSDC(v *vm.VM, prop string, h Host) protocol.Reply {
	switch prop {
	case "nics":
		nics := v.Nics
		if nics == nil {
			nics = []vm.NIC{}
		}
		return jsonReply(nics)
	case "resolvers":
		rs := v.Resolvers
		if rs == nil {
			rs = []string{}
		}
		return jsonReply(rs)
	case "tmpfs":
		if v.Tmpfs == nil {
			return protocol.Reply{Code: protocol.NotFound}
		}
		return jsonReply(*v.Tmpfs)
	case "routes":
		return jsonReply(Routes(v))
	case "operator-script":
		return mapReply(v.InternalMetadata, "operator-script")
	case "volumes":
		return mapReply(v.InternalMetadata, "sdc:volumes")
	}
	// Metadata is reached by its own keys, never through sdc:, so that
	// internal_metadata outside _pw and the namespaces stays hidden.
	for _, coll := range []string{"customer_metadata", "internal_metadata"} {
		if prop == coll || strings.HasPrefix(prop, coll+".") {
			return protocol.Reply{Code: protocol.NotFound}
		}
	}
	// An object or array (sdc:tags, sdc:nics.0), even an empty one,
	// cannot be returned as a value.
	nonString := protocol.Reply{Code: protocol.Failure, Data: "Unable to return non-string value for " + strconv.Quote("sdc:"+prop)}
	if collections()[prop] {
		if shown(v, prop) {
			return nonString
		}
		return protocol.Reply{Code: protocol.NotFound}
	}
	flat := vm.Flatten(v)
	if flat["server_uuid"] == "" && h.ServerUUID != "" {
		flat["server_uuid"] = h.ServerUUID
	}
	if flat["datacenter_name"] == "" && h.DatacenterName != "" {
		flat["datacenter_name"] = h.DatacenterName
	}
	if val, ok := flat[prop]; ok {
		return protocol.Reply{Code: protocol.Success, Data: val}
	}
	for k := range flat {
		if strings.HasPrefix(k, prop+".") {
			return nonString
		}
	}
	return protocol.Reply{Code: protocol.NotFound}
}

// collections names the VM's properties that are objects or arrays.
var collections = sync.OnceValue(func() map[string]bool {
	out := map[string]bool{}
	t := reflect.TypeFor[vm.VM]()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if k := f.Type.Kind(); name != "" && name != "-" && (k == reflect.Map || k == reflect.Slice) {
			out[name] = true
		}
	}
	return out
})

// shown says whether vmadm get shows the VM's property prop.
func shown(v *vm.VM, prop string) bool {
	b, err := vm.JSON(v)
	var top map[string]json.RawMessage
	if err != nil || json.Unmarshal(b, &top) != nil {
		return false
	}
	_, ok := top[prop]
	return ok
}

func mapReply(m map[string]string, k string) protocol.Reply {
	if val, ok := m[k]; ok {
		return protocol.Reply{Code: protocol.Success, Data: val}
	}
	return protocol.Reply{Code: protocol.NotFound}
}

// jsonReply is JSON.stringify: compact, with <, > and & left alone.
func jsonReply(x any) protocol.Reply {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(x); err != nil {
		return protocol.Reply{Code: protocol.Failure, Data: err.Error()}
	}
	return protocol.Reply{Code: protocol.Success, Data: strings.TrimSuffix(b.String(), "\n")}
}

// Route is one entry of sdc:routes.
type Route struct {
	LinkLocal bool   `json:"linklocal"`
	Dst       string `json:"dst"`
	Gateway   string `json:"gateway"`
}

var (
	routeNic = regexp.MustCompile(`^nics\[(\d+)\]$`)
	routeMac = regexp.MustCompile(`^macs\[(.+)\]$`)
)

// Routes renders the VM's routes for sdc:routes: gateways given as
// nics[N] or macs[MAC] become that NIC's IP and are link-local. As in
// SmartOS, a route whose NIC is missing or has no static IP is left
// out: the zone cannot use it yet, and the others still apply.
func Routes(v *vm.VM) []Route {
	out := []Route{}
	for _, dst := range slices.Sorted(maps.Keys(v.Routes)) {
		gw := v.Routes[dst]
		r := Route{Dst: dst, Gateway: gw}
		if nic, ok := routeNIC(v, gw); ok {
			if nic == nil {
				continue
			}
			ip := nic.IP
			if ip == "" && len(nic.IPs) > 0 {
				ip, _, _ = strings.Cut(nic.IPs[0], "/")
			}
			if ip == "" || ip == "dhcp" || ip == "addrconf" {
				continue
			}
			r.Gateway, r.LinkLocal = ip, true
		}
		out = append(out, r)
	}
	return out
}

// routeNIC resolves a gateway of the form nics[N] or macs[MAC]: ok says
// whether gw has that form, nic is the NIC (nil when there is none).
func routeNIC(v *vm.VM, gw string) (nic *vm.NIC, ok bool) {
	if m := routeNic.FindStringSubmatch(gw); m != nil {
		i, err := strconv.Atoi(m[1])
		if err != nil || i >= len(v.Nics) {
			return nil, true
		}
		return &v.Nics[i], true
	}
	m := routeMac.FindStringSubmatch(gw)
	if m == nil {
		return nil, false
	}
	want, ok := parseMAC(m[1])
	if !ok {
		return nil, true
	}
	for i := range v.Nics {
		if mac, ok := parseMAC(v.Nics[i].MAC); ok && mac == want {
			return &v.Nics[i], true
		}
	}
	return nil, true
}

// parseMAC reads a MAC address as SmartOS does: six groups of one or two
// hex digits, separated by ':' or '-' (2:8:20:0:0:3 is 02:08:20:00:00:03).
func parseMAC(s string) (mac [6]byte, ok bool) {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == '-' })
	if len(f) != 6 || strings.Count(s, ":")+strings.Count(s, "-") != 5 {
		return mac, false
	}
	for i, g := range f {
		b, err := strconv.ParseUint(g, 16, 8)
		if err != nil || len(g) > 2 {
			return mac, false
		}
		mac[i] = byte(b)
	}
	return mac, true
}

// Keys answers KEYS: customer_metadata keys (less _pw and namespaced
// ones) and internal_metadata's _pw and namespaced keys, one per line;
// never sdc: keys.
func Keys(v *vm.VM) protocol.Reply {
	var ks []string
	for _, k := range slices.Sorted(maps.Keys(v.CustomerMetadata)) {
		if !internalKey(v, k) {
			ks = append(ks, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(v.InternalMetadata)) {
		if internalKey(v, k) {
			ks = append(ks, k)
		}
	}
	return protocol.Reply{Code: protocol.Success, Data: strings.Join(ks, "\n")}
}

// ErrReadOnly matches (errors.Is) the errors for keys a zone may not
// change; their text is SmartOS's message.
var ErrReadOnly = errors.New("read-only")

type readOnly string

func (e readOnly) Error() string        { return string(e) }
func (e readOnly) Is(target error) bool { return target == ErrReadOnly }

// PutPayload is the vmadm update payload for a PUT of key=value from the
// zone: customer_metadata, or internal_metadata for _pw keys and
// operator-script. sdc: keys and internal namespaces are read-only.
func PutPayload(v *vm.VM, key, value string) ([]byte, error) {
	coll, err := writable(v, key)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]map[string]string{"set_" + coll: {key: value}})
}

// DeletePayload is the vmadm update payload for a DELETE of key.
func DeletePayload(v *vm.VM, key string) ([]byte, error) {
	coll, err := writable(v, key)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string][]string{"remove_" + coll: {key}})
}

// writable returns the collection a zone's PUT or DELETE of key changes.
func writable(v *vm.VM, key string) (string, error) {
	if key == "" {
		return "", errors.New("empty metadata key")
	}
	if strings.HasPrefix(key, "sdc:") {
		return "", readOnly(`Cannot update the "sdc" Namespace.`)
	}
	if ns := namespace(v, key); ns != "" {
		return "", readOnly(`Cannot update the "` + ns + `" Namespace.`)
	}
	if strings.HasSuffix(key, "_pw") || key == "operator-script" {
		return "internal_metadata", nil
	}
	return "customer_metadata", nil
}

// errPut is SmartOS's answer to a PUT it cannot read.
var errPut = errors.New("Invalid PUT Request")

// SplitPut decodes a V2 PUT argument: two base64 fields, key and value,
// separated by one space. The key is trimmed of white space and must not
// be empty. As in SmartOS, an empty value is refused too: its base64 is
// empty, and the argument trimmed of white space is then one field.
func SplitPut(arg string) (key, value string, err error) {
	k, val, ok := strings.Cut(strings.TrimSpace(arg), " ")
	if !ok || strings.Contains(val, " ") {
		return "", "", errPut
	}
	kb, err1 := protocol.Decode(k)
	vb, err2 := protocol.Decode(val)
	if kb = strings.TrimSpace(kb); err1 != nil || err2 != nil || kb == "" {
		return "", "", errPut
	}
	return kb, vb, nil
}
