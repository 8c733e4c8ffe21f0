package metadata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

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
		rs, err := Routes(v)
		if err != nil {
			return protocol.Reply{Code: protocol.Failure, Data: err.Error()}
		}
		return jsonReply(rs)
	case "operator-script":
		return mapReply(v.InternalMetadata, "operator-script")
	case "volumes":
		return mapReply(v.InternalMetadata, "sdc:volumes")
	}
	// Metadata is reached by its own keys, never through sdc:, so that
	// internal_metadata outside _pw and the namespaces stays hidden.
	if strings.HasPrefix(prop, "customer_metadata") || strings.HasPrefix(prop, "internal_metadata") {
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
	// An object (sdc:tags, sdc:nics.0) cannot be returned as a value.
	for k := range flat {
		if strings.HasPrefix(k, prop+".") {
			return protocol.Reply{Code: protocol.Failure, Data: "Unable to return non-string value for " + strconv.Quote("sdc:"+prop)}
		}
	}
	return protocol.Reply{Code: protocol.NotFound}
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
// nics[N] or macs[MAC] become that NIC's IP and are link-local.
func Routes(v *vm.VM) ([]Route, error) {
	out := []Route{}
	for _, dst := range slices.Sorted(maps.Keys(v.Routes)) {
		gw := v.Routes[dst]
		r := Route{Dst: dst, Gateway: gw}
		var nic *vm.NIC
		if m := routeNic.FindStringSubmatch(gw); m != nil {
			i, err := strconv.Atoi(m[1])
			if err != nil || i >= len(v.Nics) {
				return nil, fmt.Errorf("protocol.Invalid nic index in route %q: %q", dst, gw)
			}
			nic = &v.Nics[i]
		} else if m := routeMac.FindStringSubmatch(gw); m != nil {
			for i := range v.Nics {
				if strings.EqualFold(v.Nics[i].MAC, m[1]) {
					nic = &v.Nics[i]
				}
			}
			if nic == nil {
				return nil, fmt.Errorf("protocol.Invalid mac address in route %q: %q", dst, gw)
			}
		}
		if nic != nil {
			ip := nic.IP
			if ip == "" && len(nic.IPs) > 0 {
				ip, _, _ = strings.Cut(nic.IPs[0], "/")
			}
			if ip == "" || ip == "dhcp" {
				return nil, fmt.Errorf("NIC for route %q has no static IP", dst)
			}
			r.Gateway, r.LinkLocal = ip, true
		}
		out = append(out, r)
	}
	return out, nil
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
		return "", errors.New("protocol.Invalid key: empty")
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

// SplitPut decodes a V2 PUT argument: two base64 fields, key and value,
// separated by one space.
func SplitPut(arg string) (key, value string, err error) {
	k, val, ok := strings.Cut(arg, " ")
	if !ok || strings.Contains(val, " ") {
		return "", "", errors.New("protocol.Invalid PUT protocol.Request")
	}
	kb, err1 := protocol.Decode(k)
	vb, err2 := protocol.Decode(val)
	if err1 != nil || err2 != nil {
		return "", "", errors.New("protocol.Invalid PUT Request: bad base64")
	}
	return kb, vb, nil
}
