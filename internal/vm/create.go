package vm

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"hull/internal/priv"
)

// Defaults SmartOS applies at create (test-defaults in smartos-live).
const (
	ZeroUUID           = "00000000-0000-0000-0000-000000000000"
	defaultRAM         = 256
	defaultCPUShares   = 100
	maxCPUShares       = 65535
	defaultIOPriority  = 100
	defaultMaxLwps     = 2000
	defaultIPCIDs      = 4096
	defaultQuota       = 10
	defaultRecsize     = 131072
	minMaxSwap         = 256
	defaultZpool       = "zones"
	defaultDNSDomain   = "local"
	defaultLimitPriv   = "default"
	timestampLayout    = "2006-01-02T15:04:05.000Z"
	dockerNamespace    = "docker"
	dockerIDKey        = "docker:id"
	defaultCompression = "off"
)

// Timestamp formats t as SmartOS does (ISO 8601, UTC, milliseconds).
func Timestamp(t time.Time) string { return t.UTC().Format(timestampLayout) }

// NormalizeCreate validates a create payload and returns the VM object
// with SmartOS's defaults applied. Zonepath and state are the node's.
// As SmartOS's create does, it fails on a bad brand, bad values or
// missing properties, and drops properties the brand may not set
// (bad_properties) rather than failing on them.
func NormalizeCreate(payload []byte, now time.Time) (*VM, error) {
	return normalizeCreate(payload, now, false)
}

// normalizeCreate is NormalizeCreate; strict makes bad properties an
// error too, as vmadm validate reports them.
func normalizeCreate(payload []byte, now time.Time, strict bool) (*VM, error) {
	p, err := parsePayload(payload)
	if err != nil {
		return nil, err
	}
	brand := "joyent"
	if b, ok := p.vals["brand"]; ok {
		s, isStr := b.(string)
		if _, known := brandNames[s]; !isStr || !known {
			return nil, &ValidationError{BadBrand: brandValue(b)}
		}
		brand = s
	}
	if err := errUnsupportedBrand(brand); err != nil {
		return nil, err
	}
	deprecatedAlias(brand, p, "dataset_uuid", "image_uuid")
	var e ValidationError
	checkProps(brand, "create", p, &e, true)
	deprecatedAlias(brand, p, "zfs_storage_pool_name", "zpool")
	if brand != "sparse" && !p.has("image_uuid") {
		e.missing("image_uuid")
	}
	if brand == "lx" && !p.has("kernel_version") {
		e.missing("kernel_version")
	}
	if !strict {
		dropBadProperties(p, e.BadProperties)
		e.BadProperties = nil
	}
	if err := e.orNil(); err != nil {
		return nil, err
	}

	v := &VM{Brand: brand}
	for _, k := range p.keys {
		val := p.vals[k]
		if val == nil || k == "ram" || propIndex[k].Kind == KindObjectArray || propIndex[k].Transient {
			continue
		}
		if err := setProp(v, k, val); err != nil {
			return nil, err
		}
	}
	ram := int64(defaultRAM)
	if n, unset, _ := asInt(p.vals["ram"]); p.vals["ram"] != nil && !unset {
		ram = n
	}
	applyDefaults(v, ram, now)
	if v.MaxSwap < minMaxSwap {
		return nil, &ValidationError{BadValues: []string{"max_swap"}}
	}
	if err := checkZFSProps(v, p); err != nil {
		return nil, err
	}
	// SmartOS's zoneadm refuses such a zone at its first boot; here it
	// is not created.
	if _, err := priv.Parse(v.LimitPriv, v.Brand); err != nil {
		return nil, err
	}
	// As SmartOS: indestructible_delegated is a property of the
	// delegated dataset, and without one there is nothing to keep.
	if !Bool(v.DelegateDataset, false) {
		v.IndestructibleData = nil
	}
	if err := checkFSAllowed(v); err != nil {
		return nil, err
	}
	if v.Docker != nil && *v.Docker {
		applyDocker(v, nil)
	}
	if err := checkDockerHosts(v); err != nil {
		return nil, err
	}
	if err := createNICs(v, p); err != nil {
		return nil, err
	}
	if err := createFilesystems(v, p); err != nil {
		return nil, err
	}
	if err := checkRoutes(v.Routes, v.Nics); err != nil {
		return nil, err
	}
	return v, nil
}

// checkFSAllowed refuses fs_allowed (but not its unsetting, ""): a zone
// here mounts nothing itself, so the filesystems it was promised it could
// mount would fail it.
func checkFSAllowed(v *VM) error {
	if v.FSAllowed != "" {
		return fmt.Errorf("fs_allowed is not supported yet on this node")
	}
	return nil
}

// brandValue is a bad brand as SmartOS reports it: null (or no brand at
// all) is "undefined".
func brandValue(b any) string {
	switch s := b.(type) {
	case string:
		return s
	case nil:
		return "undefined"
	}
	return fmt.Sprint(b)
}

// applyDefaults fills what a create payload left out, SmartOS's way.
func applyDefaults(v *VM, ram int64, now time.Time) {
	if v.UUID == "" {
		v.UUID = uuid.NewString()
	}
	if v.Zonename == "" {
		v.Zonename = v.UUID
	}
	if v.OwnerUUID == "" {
		v.OwnerUUID = ZeroUUID
	}
	if v.BillingID == "" {
		v.BillingID = ZeroUUID
	}
	if v.Autoboot == nil {
		t := true
		v.Autoboot = &t
	}
	if v.Zpool == "" {
		v.Zpool = defaultZpool
	}
	if v.DNSDomain == "" {
		v.DNSDomain = defaultDNSDomain
	}
	if v.CPUShares == 0 {
		v.CPUShares = defaultCPUShares
	}
	// SmartOS caps shares rather than refusing them.
	v.CPUShares = min(v.CPUShares, maxCPUShares)
	if v.ZFSIOPriority == 0 {
		v.ZFSIOPriority = defaultIOPriority
	}
	if v.MaxLwps == 0 {
		v.MaxLwps = defaultMaxLwps
	}
	createMemory(v, ram)
	if v.LimitPriv == "" {
		v.LimitPriv = defaultLimitPriv
	}
	if v.Quota == nil {
		q := int64(defaultQuota)
		v.Quota = &q
	}
	if v.ZFSRootRecsize == 0 {
		v.ZFSRootRecsize = defaultRecsize
	}
	if v.Resolvers == nil {
		v.Resolvers = []string{}
	}
	if v.CustomerMetadata == nil {
		v.CustomerMetadata = map[string]string{}
	}
	if v.InternalMetadata == nil {
		v.InternalMetadata = map[string]string{}
	}
	if v.Tags == nil {
		v.Tags = map[string]any{}
	}
	if v.Routes == nil {
		v.Routes = map[string]string{}
	}
	v.Nics = []NIC{}
	v.Type = BrandType(v.Brand)
	v.HVM = isHVM(v.Brand)
	v.V = 1
	v.ZFSFilesystem = v.Zpool + "/" + v.UUID
	v.CreateTimestamp = Timestamp(now)
	v.LastModified = v.CreateTimestamp
}

// createMemory derives the memory caps from ram and each other: for OS
// VMs max_physical_memory defaults to ram, max_locked_memory,
// max_shm_memory and tmpfs to max_physical_memory, max_swap to
// max_physical_memory but at least 256; locked memory is clamped to and
// swap raised to max_physical_memory.
func createMemory(v *VM, ram int64) {
	if v.MaxPhysicalMemory == 0 {
		v.MaxPhysicalMemory = ram
	}
	mpm := v.MaxPhysicalMemory
	if v.MaxLockedMemory == 0 || v.MaxLockedMemory > mpm {
		v.MaxLockedMemory = mpm
	}
	if v.MaxSwap == 0 {
		v.MaxSwap = max(mpm, minMaxSwap)
	}
	v.MaxSwap = max(v.MaxSwap, mpm)
	if v.Tmpfs == nil || *v.Tmpfs > mpm {
		t := mpm
		v.Tmpfs = &t
	}
	if v.MaxShmMemory == 0 {
		v.MaxShmMemory = mpm
	}
	for _, p := range []*int64{&v.MaxMsgIDs, &v.MaxSemIDs, &v.MaxShmIDs} {
		if *p == 0 {
			*p = defaultIPCIDs
		}
	}
}

// checkZFSProps checks record sizes and compression and, as SmartOS does,
// carries zfs_root_* over to the delegated dataset's zfs_data_* when only
// the former is given.
func checkZFSProps(v *VM, p *object) error {
	for _, rs := range []struct {
		name string
		val  *int64
	}{{"zfs_root_recsize", &v.ZFSRootRecsize}, {"zfs_data_recsize", &v.ZFSDataRecsize}} {
		if !p.has(rs.name) {
			continue
		}
		if *rs.val == 0 {
			*rs.val = defaultRecsize
		} else if !validRecordSize(*rs.val) {
			return fmt.Errorf("invalid %s (%d), must be 512-131072 and a power of 2. (0 to disable)", rs.name, *rs.val)
		}
	}
	for _, c := range []struct {
		name string
		val  string
	}{{"zfs_root_compression", v.ZFSRootCompression}, {"zfs_data_compression", v.ZFSDataCompression}} {
		if p.has(c.name) && !validCompression(c.val) {
			return fmt.Errorf("invalid compression type for %s, must be one of: %s", c.val, strings.Join(compressionTypes, ", "))
		}
	}
	if p.has("zfs_root_compression") && !p.has("zfs_data_compression") && v.ZFSDataCompression == "" {
		v.ZFSDataCompression = defaultCompression
	}
	if p.has("zfs_root_recsize") && !p.has("zfs_data_recsize") && v.ZFSDataRecsize == 0 {
		v.ZFSDataRecsize = defaultRecsize
	}
	return nil
}

func validCompression(s string) bool {
	for _, c := range compressionTypes {
		if s == c {
			return true
		}
	}
	return false
}

// applyDocker does what docker:true implies (SmartOS §2.6): the docker
// metadata namespace, no init restarts, and a docker:id made once from
// the VM uuid and a random uuid. The init binary is left to the zone
// package, which runs the image's entrypoint.
func applyDocker(v *VM, cur *VM) {
	if !containsString(v.InternalMetadataNamespaces, dockerNamespace) {
		v.InternalMetadataNamespaces = append(v.InternalMetadataNamespaces, dockerNamespace)
	}
	if cur == nil || cur.RestartInit == nil || *cur.RestartInit {
		f := false
		v.RestartInit = &f
	}
	if v.InternalMetadata == nil {
		v.InternalMetadata = map[string]string{}
	}
	if v.InternalMetadata[dockerIDKey] == "" {
		v.InternalMetadata[dockerIDKey] = strings.ReplaceAll(v.UUID, "-", "") + strings.ReplaceAll(uuid.NewString(), "-", "")
	}
	v.ZlogMode = DockerZlogMode(v.InternalMetadata)
}

func containsString(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

// createNICs checks and builds the payload's nics.
func createNICs(v *VM, p *object) error {
	entries, _ := p.vals["nics"].([]any)
	var c nicCheck
	for _, el := range entries {
		if err := c.check(el.(*object), true); err != nil {
			return err
		}
	}
	for _, el := range entries {
		n, err := newNIC(v.UUID, v.Brand, el.(*object), v.Nics)
		if err != nil {
			return err
		}
		v.Nics = append(v.Nics, n)
	}
	return finalNICChecks(v.Nics, c.primaries)
}
