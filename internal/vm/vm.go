// Package vm defines the VM object: the SmartOS property set that is the
// single source of truth for a zone, its defaults, validation, update
// semantics and the list/lookup views built from it.
package vm

// VM is the stored and reported VM object. JSON names and shapes follow
// SmartOS's vmadm exactly; fields that SmartOS omits when unset are
// pointers or omitempty. Read-only (computed) fields are filled in by the
// node when the object is read and are never taken from a payload.
type VM struct {
	UUID     string `json:"uuid"`
	Alias    string `json:"alias,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	Brand    string `json:"brand"`
	// Type is OS, LX, KVM or BHYVE, derived from Brand.
	Type          string `json:"type,omitempty"`
	ImageUUID     string `json:"image_uuid,omitempty"`
	OwnerUUID     string `json:"owner_uuid,omitempty"`
	BillingID     string `json:"billing_id,omitempty"`
	Zonename      string `json:"zonename,omitempty"`
	Zonepath      string `json:"zonepath,omitempty"`
	Zpool         string `json:"zpool,omitempty"`
	ZFSFilesystem string `json:"zfs_filesystem,omitempty"`
	KernelVersion string `json:"kernel_version,omitempty"`
	Docker        *bool  `json:"docker,omitempty"`
	InitName      string `json:"init_name,omitempty"`
	RestartInit   *bool  `json:"restart_init,omitempty"`

	CreateTimestamp string `json:"create_timestamp,omitempty"`
	LastModified    string `json:"last_modified,omitempty"`

	Autoboot           *bool `json:"autoboot,omitempty"`
	ArchiveOnDelete    *bool `json:"archive_on_delete,omitempty"`
	DoNotInventory     *bool `json:"do_not_inventory,omitempty"`
	FirewallEnabled    bool  `json:"firewall_enabled"`
	IndestructibleRoot *bool `json:"indestructible_zoneroot,omitempty"`
	IndestructibleData *bool `json:"indestructible_delegated,omitempty"`
	DelegateDataset    *bool `json:"delegate_dataset,omitempty"`
	MaintainResolvers  *bool `json:"maintain_resolvers,omitempty"`
	Nowait             *bool `json:"nowait,omitempty"`

	// Resource controls. Memory in MiB, quota in GiB, cpu_cap in percent
	// of one CPU.
	RAM                int64  `json:"ram,omitempty"`
	MaxPhysicalMemory  int64  `json:"max_physical_memory,omitempty"`
	MaxLockedMemory    int64  `json:"max_locked_memory,omitempty"`
	MaxSwap            int64  `json:"max_swap,omitempty"`
	MaxShmMemory       int64  `json:"max_shm_memory,omitempty"`
	MaxLwps            int64  `json:"max_lwps,omitempty"`
	MaxMsgIDs          int64  `json:"max_msg_ids,omitempty"`
	MaxSemIDs          int64  `json:"max_sem_ids,omitempty"`
	MaxShmIDs          int64  `json:"max_shm_ids,omitempty"`
	CPUShares          int64  `json:"cpu_shares,omitempty"`
	CPUCap             int64  `json:"cpu_cap,omitempty"`
	ZFSIOPriority      int64  `json:"zfs_io_priority,omitempty"`
	Quota              *int64 `json:"quota,omitempty"`
	Tmpfs              *int64 `json:"tmpfs,omitempty"`
	ZFSRootCompression string `json:"zfs_root_compression,omitempty"`
	ZFSRootRecsize     int64  `json:"zfs_root_recsize,omitempty"`
	LimitPriv          string `json:"limit_priv,omitempty"`
	FSAllowed          string `json:"fs_allowed,omitempty"`
	ZFSDataCompression string `json:"zfs_data_compression,omitempty"`
	ZFSDataRecsize     int64  `json:"zfs_data_recsize,omitempty"`
	ZFSFilesystemLimit int64  `json:"zfs_filesystem_limit,omitempty"`
	ZFSSnapshotLimit   int64  `json:"zfs_snapshot_limit,omitempty"`
	MdataExecTimeout   *int64 `json:"mdata_exec_timeout,omitempty"`
	ZlogMaxSize        int64  `json:"zlog_max_size,omitempty"`
	// ZlogMode is a docker VM's log mode, from its docker:tty and
	// docker:logdriver (DockerZlogMode).
	ZlogMode string `json:"zlog_mode,omitempty"`

	CustomerMetadata           map[string]string `json:"customer_metadata"`
	InternalMetadata           map[string]string `json:"internal_metadata"`
	InternalMetadataNamespaces []string          `json:"internal_metadata_namespaces,omitempty"`
	Tags                       map[string]any    `json:"tags"`
	Routes                     map[string]string `json:"routes"`
	Resolvers                  []string          `json:"resolvers"`
	DNSDomain                  string            `json:"dns_domain,omitempty"`
	Nics                       []NIC             `json:"nics"`
	Filesystems                []Filesystem      `json:"filesystems,omitempty"`
	Snapshots                  []Snapshot        `json:"snapshots"`
	PackageName                string            `json:"package_name,omitempty"`
	PackageVersion             string            `json:"package_version,omitempty"`

	// Computed on read.
	State          string `json:"state,omitempty"`
	ZoneState      string `json:"zone_state,omitempty"`
	PID            int    `json:"pid,omitempty"`
	ZoneID         int    `json:"zoneid,omitempty"`
	BootTimestamp  string `json:"boot_timestamp,omitempty"`
	ExitStatus     *int   `json:"exit_status,omitempty"`
	ExitTimestamp  string `json:"exit_timestamp,omitempty"`
	InitRestarts   *int   `json:"init_restarts,omitempty"`
	TransitionTo   string `json:"transition_to,omitempty"`
	TransitionExp  int64  `json:"transition_expire,omitempty"`
	ServerUUID     string `json:"server_uuid,omitempty"`
	DatacenterName string `json:"datacenter_name,omitempty"`
	V              int    `json:"v,omitempty"`
	// HVM is true for kvm and bhyve; SmartOS always reports it.
	HVM bool `json:"hvm"`
	// Datasets lists delegated datasets (read-only).
	Datasets []string `json:"datasets,omitempty"`
}

// NIC is one entry of the nics array (SmartOS §2.2). Plumbing belongs to
// the network package; the VM object only validates and stores it.
type NIC struct {
	MAC                    string   `json:"mac,omitempty"`
	Interface              string   `json:"interface,omitempty"`
	NicTag                 string   `json:"nic_tag,omitempty"`
	VlanID                 *int     `json:"vlan_id,omitempty"`
	IP                     string   `json:"ip,omitempty"`
	Netmask                string   `json:"netmask,omitempty"`
	Gateway                string   `json:"gateway,omitempty"`
	IPs                    []string `json:"ips,omitempty"`
	Gateways               []string `json:"gateways,omitempty"`
	Primary                bool     `json:"primary,omitempty"`
	Model                  string   `json:"model,omitempty"`
	MTU                    int      `json:"mtu,omitempty"`
	NetworkUUID            string   `json:"network_uuid,omitempty"`
	AllowIPSpoofing        bool     `json:"allow_ip_spoofing,omitempty"`
	AllowMACSpoofing       bool     `json:"allow_mac_spoofing,omitempty"`
	AllowDHCPSpoofing      bool     `json:"allow_dhcp_spoofing,omitempty"`
	AllowRestrictedTraffic bool     `json:"allow_restricted_traffic,omitempty"`
	DHCPServer             bool     `json:"dhcp_server,omitempty"`
	AllowedIPs             []string `json:"allowed_ips,omitempty"`
	MaxBW                  string   `json:"maxbw,omitempty"`
	AllowedDHCPCIDs        []string `json:"allowed_dhcp_cids,omitempty"`
	BlockedOutgoingPorts   []int    `json:"blocked_outgoing_ports,omitempty"`
	VRRPVRID               *int     `json:"vrrp_vrid,omitempty"`
	VRRPPrimaryIP          string   `json:"vrrp_primary_ip,omitempty"`
	AllowUnfilteredPromisc bool     `json:"allow_unfiltered_promisc,omitempty"`
}

// Filesystem is one entry of the filesystems array (extra mounts).
type Filesystem struct {
	Type    string   `json:"type,omitempty"`
	Source  string   `json:"source,omitempty"`
	Target  string   `json:"target"`
	Raw     string   `json:"raw,omitempty"`
	Options []string `json:"options,omitempty"`
}

// Snapshot is one vmsnap as reported in the snapshots array.
type Snapshot struct {
	Name      string `json:"name"`
	Size      int64  `json:"size"`
	CreatedAt string `json:"created_at"`
}

// Bool returns the value of an optional flag, or def when unset.
func Bool(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}
