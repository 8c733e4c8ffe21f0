package vm

import "strings"

// Kind is the JSON type a payload property is validated as; the names
// follow SmartOS's property table.
type Kind uint8

const (
	KindString      Kind = iota + 1 // a string; "" or null unsets
	KindBool                        // true/false ("true"/"false" accepted)
	KindInt                         // an integer (numeric strings accepted)
	KindUUID                        // lower-case 8-4-4-4-12 hex
	KindList                        // array of strings/numbers, or a comma-separated string
	KindFlatObject                  // object whose values are strings, numbers or booleans
	KindObjectArray                 // array of objects (nics, filesystems, disks)
	KindZpool                       // name of a pool
)

// Brands is a set of brands, used for the create/update columns of the
// property table.
type Brands uint8

const (
	BrandJoyent Brands = 1 << iota
	BrandJoyentMinimal
	BrandLX
	BrandKVM
	BrandBhyve
	// BrandSparse is hull's own: a zone sharing the host's /usr, /lib*,
	// /bin and /sbin read-only; it needs no image.
	BrandSparse
)

const (
	brandsOS  = BrandJoyent | BrandJoyentMinimal | BrandLX | BrandSparse
	brandsJM  = BrandJoyent | BrandJoyentMinimal | BrandSparse
	brandsHVM = BrandKVM | BrandBhyve
	brandsAll = brandsOS | brandsHVM
	// SmartOS allows package_* on J,M,L,K but not bhyve.
	brandsPkg = brandsOS | BrandKVM
)

// brandNames maps a brand name to its bit and VM type.
var brandNames = map[string]struct {
	bit  Brands
	typ  string
	nics string // interface name prefix
}{
	"joyent":         {BrandJoyent, "OS", "net"},
	"joyent-minimal": {BrandJoyentMinimal, "OS", "net"},
	"sparse":         {BrandSparse, "OS", "net"},
	"lx":             {BrandLX, "LX", "eth"},
	"kvm":            {BrandKVM, "KVM", "net"},
	"bhyve":          {BrandBhyve, "BHYVE", "net"},
}

// BrandType returns the VM type (OS, LX, KVM, BHYVE) of a brand, or ""
// for an unknown brand.
func BrandType(brand string) string { return brandNames[brand].typ }

// Has reports whether the set holds the named brand.
func (b Brands) Has(brand string) bool {
	n, ok := brandNames[brand]
	return ok && b&n.bit != 0
}

// Prop describes one top-level VM property: how a payload value is
// checked and who may set it.
type Prop struct {
	Name string
	Kind Kind
	// Create and Update are the brands that may pass the property in a
	// create or update payload (SmartOS's C and U columns).
	Create, Update Brands
	// ReadOnly properties are computed and never taken from a payload.
	ReadOnly bool
	// Live updates take effect on a running zone without a reboot.
	Live bool
	// Min and Max bound integers; Max 0 means unbounded.
	Min, Max int64
	// KeepZero: an update to 0 stores 0 instead of removing the property.
	KeepZero bool
	// Valid checks a string value, or each element of a list.
	Valid func(string) bool
	// CheckAs names the collection whose entry properties an
	// add_*/update_* array is checked against.
	CheckAs string
	// Transient properties are update verbs (set_tags, add_nics...) that
	// are applied to another property and never stored.
	Transient bool
}

// Properties is the property table: every top-level property hull knows,
// in SmartOS's names. Brands outside the Create/Update sets get
// bad_properties; HVM-only entries exist so kvm and bhyve payloads are
// recognised.
var Properties = []Prop{
	{Name: "add_filesystems", Kind: KindObjectArray, Update: brandsOS | BrandKVM, CheckAs: "filesystems", Transient: true},
	{Name: "add_nics", Kind: KindObjectArray, Update: brandsAll, CheckAs: "nics", Transient: true},
	{Name: "add_disks", Kind: KindObjectArray, Update: brandsHVM, CheckAs: "disks", Transient: true},
	{Name: "alias", Kind: KindString, Create: brandsAll, Update: brandsAll},
	{Name: "archive_on_delete", Kind: KindBool, Create: brandsAll, Update: brandsAll},
	{Name: "autoboot", Kind: KindBool, Create: brandsAll, Update: brandsAll},
	{Name: "billing_id", Kind: KindString, Create: brandsAll, Update: brandsAll},
	{Name: "boot", Kind: KindString, Create: brandsHVM, Update: brandsHVM},
	{Name: "boot_timestamp", ReadOnly: true},
	{Name: "brand", Kind: KindString, Create: brandsAll},
	{Name: "cpu_cap", Kind: KindInt, Create: brandsAll, Update: brandsAll, Live: true},
	{Name: "cpu_shares", Kind: KindInt, Create: brandsAll, Update: brandsAll, Live: true},
	{Name: "cpu_type", Kind: KindString, Create: BrandKVM, Update: BrandKVM},
	{Name: "create_timestamp", ReadOnly: true},
	{Name: "customer_metadata", Kind: KindFlatObject, Create: brandsAll},
	{Name: "datacenter_name", ReadOnly: true},
	{Name: "datasets", ReadOnly: true},
	// dataset_uuid is the deprecated name of image_uuid (see
	// deprecatedAliases); it is never stored.
	{Name: "dataset_uuid", Kind: KindUUID, Create: brandsOS &^ BrandSparse, Transient: true},
	{Name: "delegate_dataset", Kind: KindBool, Create: brandsOS},
	{Name: "disk_driver", Kind: KindString, Create: brandsHVM, Update: brandsHVM},
	{Name: "disks", Kind: KindObjectArray, Create: brandsHVM},
	{Name: "dns_domain", Kind: KindString, Create: brandsOS, Update: brandsOS, Valid: validDomain},
	{Name: "do_not_inventory", Kind: KindBool, Create: brandsAll, Update: brandsAll},
	{Name: "docker", Kind: KindBool, Create: BrandJoyentMinimal | BrandLX, Update: BrandJoyentMinimal | BrandLX},
	{Name: "exit_status", ReadOnly: true},
	{Name: "exit_timestamp", ReadOnly: true},
	{Name: "filesystems", Kind: KindObjectArray, Create: brandsOS},
	{Name: "firewall_enabled", Kind: KindBool, Create: brandsAll, Update: brandsAll},
	{Name: "fs_allowed", Kind: KindList, Create: brandsOS, Update: brandsOS},
	{Name: "hostname", Kind: KindString, Create: brandsAll, Update: brandsAll, Valid: validHostname},
	{Name: "hvm", ReadOnly: true},
	{Name: "image_uuid", Kind: KindUUID, Create: brandsAll &^ BrandSparse},
	{Name: "indestructible_delegated", Kind: KindBool, Create: brandsAll, Update: brandsAll},
	{Name: "indestructible_zoneroot", Kind: KindBool, Create: brandsAll, Update: brandsAll},
	{Name: "init_name", Kind: KindString, Create: brandsOS, Update: brandsOS},
	{Name: "init_restarts", ReadOnly: true},
	{Name: "internal_metadata", Kind: KindFlatObject, Create: brandsAll},
	{Name: "internal_metadata_namespaces", Kind: KindList, Create: brandsAll, Update: brandsAll, Valid: validAttrValue},
	{Name: "kernel_version", Kind: KindString, Create: BrandLX, Update: BrandLX},
	{Name: "last_modified", ReadOnly: true},
	{Name: "limit_priv", Kind: KindList, Create: brandsAll, Update: brandsAll},
	{Name: "maintain_resolvers", Kind: KindBool, Create: brandsOS, Update: brandsOS},
	{Name: "max_locked_memory", Kind: KindInt, Create: brandsAll, Update: brandsAll, Live: true},
	// A zone allowed no processes cannot boot, so at least 1 (0 on update
	// removes the cap, as for every integer).
	{Name: "max_lwps", Kind: KindInt, Create: brandsAll, Update: brandsAll, Live: true, Min: 1},
	{Name: "max_msg_ids", Kind: KindInt, Create: brandsAll, Update: brandsAll, Live: true},
	{Name: "max_physical_memory", Kind: KindInt, Create: brandsAll, Update: brandsAll, Live: true},
	{Name: "max_sem_ids", Kind: KindInt, Create: brandsAll, Update: brandsAll, Live: true},
	{Name: "max_shm_ids", Kind: KindInt, Create: brandsAll, Update: brandsAll, Live: true},
	{Name: "max_shm_memory", Kind: KindInt, Create: brandsAll, Update: brandsAll, Live: true},
	{Name: "max_swap", Kind: KindInt, Create: brandsAll, Update: brandsAll, Live: true, Min: minMaxSwap},
	{Name: "mdata_exec_timeout", Kind: KindInt, Create: brandsOS},
	{Name: "nic_driver", Kind: KindString, Create: brandsHVM, Update: brandsHVM},
	{Name: "nics", Kind: KindObjectArray, Create: brandsAll},
	{Name: "nowait", Kind: KindBool, Create: brandsOS},
	{Name: "owner_uuid", Kind: KindString, Create: brandsAll, Update: brandsAll},
	{Name: "package_name", Kind: KindString, Create: brandsPkg, Update: brandsPkg},
	{Name: "package_version", Kind: KindString, Create: brandsPkg, Update: brandsPkg},
	{Name: "pid", ReadOnly: true},
	{Name: "qemu_extra_opts", Kind: KindString, Create: BrandKVM, Update: BrandKVM},
	{Name: "qemu_opts", Kind: KindString, Create: BrandKVM, Update: BrandKVM},
	{Name: "quota", Kind: KindInt, Create: brandsAll, Update: brandsAll, Live: true, KeepZero: true},
	{Name: "ram", Kind: KindInt, Create: brandsAll, Update: brandsAll},
	{Name: "remove_customer_metadata", Kind: KindList, Update: brandsAll, Transient: true},
	{Name: "remove_disks", Kind: KindList, Update: brandsHVM, Transient: true},
	{Name: "remove_filesystems", Kind: KindList, Update: brandsAll, Transient: true},
	{Name: "remove_internal_metadata", Kind: KindList, Update: brandsAll, Transient: true},
	{Name: "remove_nics", Kind: KindList, Update: brandsAll, Transient: true},
	{Name: "remove_routes", Kind: KindList, Update: brandsAll, Transient: true},
	{Name: "remove_tags", Kind: KindList, Update: brandsAll, Transient: true},
	{Name: "resolvers", Kind: KindList, Create: brandsAll, Update: brandsAll, Valid: validIP},
	{Name: "restart_init", Kind: KindBool, Create: brandsOS, Update: brandsOS},
	{Name: "routes", Kind: KindFlatObject, Create: brandsAll},
	{Name: "server_uuid", ReadOnly: true},
	{Name: "set_customer_metadata", Kind: KindFlatObject, Update: brandsAll, Transient: true},
	{Name: "set_internal_metadata", Kind: KindFlatObject, Update: brandsAll, Transient: true},
	{Name: "set_routes", Kind: KindFlatObject, Update: brandsAll, Transient: true},
	{Name: "set_tags", Kind: KindFlatObject, Update: brandsAll, Transient: true},
	{Name: "snapshots", ReadOnly: true},
	{Name: "state", ReadOnly: true},
	{Name: "tags", Kind: KindFlatObject, Create: brandsAll},
	{Name: "tmpfs", Kind: KindInt, Create: brandsOS, Update: brandsOS, Live: true, KeepZero: true},
	{Name: "transition_expire", ReadOnly: true},
	{Name: "transition_to", ReadOnly: true},
	{Name: "type", ReadOnly: true},
	{Name: "update_disks", Kind: KindObjectArray, Update: brandsHVM, CheckAs: "disks", Transient: true},
	{Name: "update_filesystems", Kind: KindObjectArray, Update: brandsOS | BrandKVM, CheckAs: "filesystems", Transient: true},
	{Name: "update_nics", Kind: KindObjectArray, Update: brandsAll, CheckAs: "nics", Transient: true},
	{Name: "uuid", Kind: KindUUID, Create: brandsAll},
	{Name: "v", ReadOnly: true},
	{Name: "vcpus", Kind: KindInt, Create: brandsHVM, Update: brandsHVM, Min: 1},
	{Name: "vnc_password", Kind: KindString, Create: brandsHVM, Update: brandsHVM},
	{Name: "vnc_port", Kind: KindInt, Create: brandsHVM, Update: brandsHVM, Min: -1},
	{Name: "zfs_data_compression", Kind: KindString, Create: brandsOS, Update: brandsOS},
	{Name: "zfs_data_recsize", Kind: KindInt, Create: brandsOS, Update: brandsOS},
	{Name: "zfs_filesystem", ReadOnly: true},
	{Name: "zfs_filesystem_limit", Kind: KindInt, Create: brandsAll, Update: brandsAll},
	{Name: "zfs_io_priority", Kind: KindInt, Create: brandsAll, Update: brandsAll, Live: true},
	{Name: "zfs_root_compression", Kind: KindString, Create: brandsAll, Update: brandsAll},
	{Name: "zfs_root_recsize", Kind: KindInt, Create: brandsAll, Update: brandsAll},
	{Name: "zfs_snapshot_limit", Kind: KindInt, Create: brandsAll, Update: brandsAll},
	// zfs_storage_pool_name is the deprecated name of zpool.
	{Name: "zfs_storage_pool_name", Kind: KindZpool, Create: brandsOS | BrandKVM, Transient: true},
	{Name: "zlog_max_size", Kind: KindInt, Create: brandsOS, Update: brandsOS},
	{Name: "zlog_mode", ReadOnly: true},
	{Name: "zone_state", ReadOnly: true},
	{Name: "zoneid", ReadOnly: true},
	{Name: "zonename", Kind: KindString, Create: brandsAll, Valid: validZonename},
	{Name: "zonepath", ReadOnly: true},
	{Name: "zpool", Kind: KindZpool, Create: brandsAll},
}

// SubProp describes a property of one entry of nics or filesystems.
type SubProp struct {
	Name  string
	Kind  Kind
	Add   Brands // brands that may set it in nics/add_nics
	Upd   Brands // brands that may change it with update_*
	Min   int64
	Max   int64
	Valid func(string) bool
}

// SubProperties holds nics.*.<prop> and filesystems.*.<prop>.
var SubProperties = []SubProp{
	{Name: "nics.*.allow_dhcp_spoofing", Kind: KindBool, Add: brandsAll, Upd: brandsAll},
	{Name: "nics.*.allow_ip_spoofing", Kind: KindBool, Add: brandsAll, Upd: brandsAll},
	{Name: "nics.*.allow_mac_spoofing", Kind: KindBool, Add: brandsAll, Upd: brandsAll},
	{Name: "nics.*.allow_restricted_traffic", Kind: KindBool, Add: brandsAll, Upd: brandsAll},
	{Name: "nics.*.allow_unfiltered_promisc", Kind: KindBool, Add: brandsHVM, Upd: brandsHVM},
	{Name: "nics.*.allowed_dhcp_cids", Kind: KindList, Add: brandsOS | BrandKVM, Upd: brandsOS | BrandKVM, Valid: validCID},
	{Name: "nics.*.allowed_ips", Kind: KindList, Add: brandsAll, Upd: brandsAll},
	{Name: "nics.*.blocked_outgoing_ports", Kind: KindList, Add: brandsAll, Upd: brandsAll, Valid: validPort},
	{Name: "nics.*.dhcp_server", Kind: KindBool, Add: brandsAll, Upd: brandsAll},
	{Name: "nics.*.gateway", Kind: KindString, Add: brandsAll, Upd: brandsAll},
	{Name: "nics.*.gateways", Kind: KindList, Add: brandsAll, Upd: brandsAll},
	{Name: "nics.*.interface", Kind: KindString, Add: brandsAll, Upd: brandsAll},
	{Name: "nics.*.ip", Kind: KindString, Add: brandsAll, Upd: brandsAll},
	{Name: "nics.*.ips", Kind: KindList, Add: brandsAll, Upd: brandsAll},
	{Name: "nics.*.mac", Kind: KindString, Add: brandsAll, Upd: brandsAll, Valid: validMAC},
	{Name: "nics.*.maxbw", Kind: KindString, Add: brandsAll, Upd: brandsAll, Valid: validMaxBW},
	{Name: "nics.*.model", Kind: KindString, Add: brandsHVM, Upd: brandsHVM},
	{Name: "nics.*.mtu", Kind: KindInt, Add: brandsAll, Upd: brandsAll, Min: 576, Max: 9000},
	{Name: "nics.*.netmask", Kind: KindString, Add: brandsAll, Upd: brandsAll},
	{Name: "nics.*.network_uuid", Kind: KindUUID, Add: brandsAll, Upd: brandsAll},
	{Name: "nics.*.nic_tag", Kind: KindString, Add: brandsAll, Upd: brandsAll},
	{Name: "nics.*.primary", Kind: KindBool, Add: brandsAll, Upd: brandsAll},
	{Name: "nics.*.vlan_id", Kind: KindInt, Add: brandsAll, Upd: brandsAll, Max: 4095},
	{Name: "nics.*.vrrp_primary_ip", Kind: KindString, Add: brandsAll, Upd: brandsAll},
	{Name: "nics.*.vrrp_vrid", Kind: KindInt, Add: brandsAll, Upd: brandsAll, Max: 255},
	{Name: "filesystems.*.options", Kind: KindList, Add: brandsOS, Upd: brandsOS},
	{Name: "filesystems.*.raw", Kind: KindString, Add: brandsOS, Upd: brandsOS},
	{Name: "filesystems.*.source", Kind: KindString, Add: brandsOS, Upd: brandsOS},
	{Name: "filesystems.*.target", Kind: KindString, Add: brandsOS, Upd: brandsOS},
	{Name: "filesystems.*.type", Kind: KindString, Add: brandsOS, Upd: brandsOS},
}

var (
	propIndex    = map[string]*Prop{}
	subPropIndex = map[string]*SubProp{}
)

func init() {
	for i := range Properties {
		propIndex[Properties[i].Name] = &Properties[i]
	}
	for i := range SubProperties {
		subPropIndex[SubProperties[i].Name] = &SubProperties[i]
	}
}

// Property returns the table entry for a top-level property.
func Property(name string) (Prop, bool) {
	p, ok := propIndex[name]
	if !ok {
		return Prop{}, false
	}
	return *p, true
}

// IsLive reports whether changing prop on a running OS zone takes effect
// at once (a resource control) rather than at the next boot.
func IsLive(prop string) bool {
	p, ok := propIndex[prop]
	return ok && p.Live
}

// isHVM reports whether brand runs a hardware VM.
func isHVM(brand string) bool { return brandsHVM.Has(brand) }

// StopTimeoutSupported reports whether a stop of v takes a timeout
// (SmartOS: bhyve, KVM and docker VMs; a zone's shutdown has its own).
func StopTimeoutSupported(v *VM) bool { return isHVM(v.Brand) || Bool(v.Docker, false) }

// joinList stores a list property that SmartOS keeps as one
// comma-separated string (limit_priv, fs_allowed).
func joinList(l []string) string { return strings.Join(l, ",") }
