package btrfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The btrfs ioctl interface (linux/btrfs.h, linux/btrfs_tree.h), which
// golang.org/x/sys/unix does not carry.

const ioctlMagic = 0x94

func iow(nr, size uintptr) uintptr  { return 1<<30 | size<<16 | ioctlMagic<<8 | nr }
func ior(nr, size uintptr) uintptr  { return 2<<30 | size<<16 | ioctlMagic<<8 | nr }
func iowr(nr, size uintptr) uintptr { return 3<<30 | size<<16 | ioctlMagic<<8 | nr }

const (
	subvolNameMax = 4039
	volNameMax    = 255

	subvolRdonly = 1 << 1 // BTRFS_SUBVOL_RDONLY

	quotaCtlEnable = 1

	qgroupLimitMaxRfer = 1 << 0

	qgroupStatusInconsistent = 1 << 2

	quotaTreeID       = 8
	rootTreeID        = 1
	rootItemKey       = 132
	qgroupStatusKey   = 240
	qgroupInfoKey     = 242
	qgroupLimitKey    = 244
	firstFreeObjectID = 256
)

// volArgsV2 is struct btrfs_ioctl_vol_args_v2.
type volArgsV2 struct {
	Fd      int64
	Transid uint64
	Flags   uint64
	Unused  [4]uint64
	Name    [subvolNameMax + 1]byte
}

type timespec struct {
	Sec  uint64
	Nsec uint32
	_    uint32
}

// subvolInfo is struct btrfs_ioctl_get_subvol_info_args.
type subvolInfo struct {
	TreeID       uint64
	Name         [volNameMax + 1]byte
	ParentID     uint64
	DirID        uint64
	Generation   uint64
	Flags        uint64
	UUID         [16]byte
	ParentUUID   [16]byte
	ReceivedUUID [16]byte
	Ctransid     uint64
	Otransid     uint64
	Stransid     uint64
	Rtransid     uint64
	Ctime        timespec
	Otime        timespec
	Stime        timespec
	Rtime        timespec
	Reserved     [8]uint64
}

type quotaCtlArgs struct {
	Cmd    uint64
	Status uint64
}

type qgroupCreateArgs struct {
	Create   uint64
	QgroupID uint64
}

type qgroupLimit struct {
	Flags   uint64
	MaxRfer uint64
	MaxExcl uint64
	RsvRfer uint64
	RsvExcl uint64
}

type qgroupLimitArgs struct {
	QgroupID uint64
	Lim      qgroupLimit
}

type searchKey struct {
	TreeID      uint64
	MinObjectID uint64
	MaxObjectID uint64
	MinOffset   uint64
	MaxOffset   uint64
	MinTransid  uint64
	MaxTransid  uint64
	MinType     uint32
	MaxType     uint32
	NrItems     uint32
	_           uint32
	_           [4]uint64
}

const searchBufSize = 64 << 10

type searchArgsV2 struct {
	Key     searchKey
	BufSize uint64
	Buf     [searchBufSize]byte
}

type scrubProgress struct {
	DataExtentsScrubbed uint64
	TreeExtentsScrubbed uint64
	DataBytesScrubbed   uint64
	TreeBytesScrubbed   uint64
	ReadErrors          uint64
	CsumErrors          uint64
	VerifyErrors        uint64
	NoCsum              uint64
	CsumDiscards        uint64
	SuperErrors         uint64
	MallocErrors        uint64
	Uncorrectable       uint64
	Corrected           uint64
	LastPhysical        uint64
	Unverified          uint64
}

type scrubArgs struct {
	DevID    uint64
	Start    uint64
	End      uint64
	Flags    uint64
	Progress scrubProgress
	_        [(1024 - 32 - unsafe.Sizeof(scrubProgress{})) / 8]uint64
}

type fsInfoArgs struct {
	MaxID          uint64
	NumDevices     uint64
	FSID           [16]byte
	NodeSize       uint32
	SectorSize     uint32
	CloneAlignment uint32
	CsumType       uint16
	CsumSize       uint16
	Flags          uint64
	Generation     uint64
	MetadataUUID   [16]byte
	_              [944]byte
}

var (
	iocSnapCreateV2   = iow(23, unsafe.Sizeof(volArgsV2{}))
	iocSubvolCreateV2 = iow(24, unsafe.Sizeof(volArgsV2{}))
	iocSubvolGetflags = ior(25, 8)
	iocSubvolSetflags = iow(26, 8)
	iocSnapDestroyV2  = iow(63, unsafe.Sizeof(volArgsV2{}))
	iocGetSubvolInfo  = ior(60, unsafe.Sizeof(subvolInfo{}))
	iocQuotaCtl       = iowr(40, unsafe.Sizeof(quotaCtlArgs{}))
	iocQgroupCreate   = iow(42, unsafe.Sizeof(qgroupCreateArgs{}))
	iocQgroupLimit    = ior(43, unsafe.Sizeof(qgroupLimitArgs{}))
	iocTreeSearchV2   = iowr(17, unsafe.Sizeof(searchKey{})+8)
	iocScrub          = iowr(27, unsafe.Sizeof(scrubArgs{}))
	iocFSInfo         = ior(31, unsafe.Sizeof(fsInfoArgs{}))
)

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}

func setName(dst []byte, name string) error {
	if len(name) >= len(dst) || name == "" {
		return fmt.Errorf("subvolume name %q: %w", name, unix.ENAMETOOLONG)
	}
	copy(dst, name)
	return nil
}

// subvolCreate makes an empty subvolume name in directory dirFD.
func subvolCreate(dirFD int, name string) error {
	var a volArgsV2
	if err := setName(a.Name[:], name); err != nil {
		return err
	}
	return ioctl(dirFD, iocSubvolCreateV2, unsafe.Pointer(&a))
}

// snapCreate snapshots the subvolume open at srcFD as name in dirFD.
func snapCreate(srcFD, dirFD int, name string, readOnly bool) error {
	a := volArgsV2{Fd: int64(srcFD)}
	if readOnly {
		a.Flags = subvolRdonly
	}
	if err := setName(a.Name[:], name); err != nil {
		return err
	}
	return ioctl(dirFD, iocSnapCreateV2, unsafe.Pointer(&a))
}

// snapDestroy deletes subvolume name in dirFD.
func snapDestroy(dirFD int, name string) error {
	var a volArgsV2
	if err := setName(a.Name[:], name); err != nil {
		return err
	}
	return ioctl(dirFD, iocSnapDestroyV2, unsafe.Pointer(&a))
}

func getSubvolInfo(fd int) (*subvolInfo, error) {
	var a subvolInfo
	if err := ioctl(fd, iocGetSubvolInfo, unsafe.Pointer(&a)); err != nil {
		return nil, err
	}
	return &a, nil
}

func subvolFlags(fd int) (uint64, error) {
	var f uint64
	err := ioctl(fd, iocSubvolGetflags, unsafe.Pointer(&f))
	return f, err
}

func setSubvolFlags(fd int, f uint64) error {
	return ioctl(fd, iocSubvolSetflags, unsafe.Pointer(&f))
}

func quotaEnable(fd int) error {
	a := quotaCtlArgs{Cmd: quotaCtlEnable}
	return ioctl(fd, iocQuotaCtl, unsafe.Pointer(&a))
}

func qgroupDestroy(fd int, id uint64) error {
	a := qgroupCreateArgs{Create: 0, QgroupID: id}
	return ioctl(fd, iocQgroupCreate, unsafe.Pointer(&a))
}

// qgroupSetLimit limits qgroup id's referenced bytes (0 removes it).
func qgroupSetLimit(fd int, id uint64, maxRfer int64) error {
	a := qgroupLimitArgs{QgroupID: id, Lim: qgroupLimit{Flags: qgroupLimitMaxRfer, MaxRfer: uint64(maxRfer)}}
	if maxRfer == 0 {
		a.Lim.MaxRfer = ^uint64(0) // the kernel's "no limit"
	}
	return ioctl(fd, iocQgroupLimit, unsafe.Pointer(&a))
}

// item is one tree item found by treeSearch.
type item struct {
	ObjectID, Offset uint64
	Type             uint32
	Data             []byte
}

// treeSearch returns the items of tree in the key range, in key order.
func treeSearch(fd int, tree, minObj, maxObj uint64, minType, maxType uint32) ([]item, error) {
	a := new(searchArgsV2)
	a.Key = searchKey{
		TreeID: tree, MinObjectID: minObj, MaxObjectID: maxObj,
		MaxOffset: ^uint64(0), MaxTransid: ^uint64(0),
		MinType: minType, MaxType: maxType,
	}
	a.BufSize = searchBufSize
	var out []item
	for {
		a.Key.NrItems = 4096
		if err := ioctl(fd, iocTreeSearchV2, unsafe.Pointer(a)); err != nil {
			return nil, fmt.Errorf("tree search: %w", err)
		}
		n := int(a.Key.NrItems)
		if n == 0 {
			return out, nil
		}
		buf, off := a.Buf[:], 0
		var last item
		for range n {
			h := buf[off : off+32]
			it := item{
				ObjectID: binary.LittleEndian.Uint64(h[8:]),
				Offset:   binary.LittleEndian.Uint64(h[16:]),
				Type:     binary.LittleEndian.Uint32(h[24:]),
			}
			l := int(binary.LittleEndian.Uint32(h[28:]))
			it.Data = append([]byte(nil), buf[off+32:off+32+l]...)
			off += 32 + l
			if it.Type >= minType && it.Type <= maxType {
				out = append(out, it)
			}
			last = it
		}
		// Continue after the last key seen.
		a.Key.MinObjectID, a.Key.MinType, a.Key.MinOffset = last.ObjectID, last.Type, last.Offset
		switch {
		case a.Key.MinOffset < ^uint64(0):
			a.Key.MinOffset++
		case a.Key.MinType < 255:
			a.Key.MinOffset = 0
			a.Key.MinType++
		case a.Key.MinObjectID < ^uint64(0):
			a.Key.MinOffset, a.Key.MinType = 0, 0
			a.Key.MinObjectID++
		default:
			return out, nil
		}
		if a.Key.MinObjectID > maxObj {
			return out, nil
		}
	}
}

// qgroupInfo is a level-0 qgroup's accounting.
type qgroupInfo struct {
	Rfer, Excl int64
	MaxRfer    int64 // 0 = none
}

// qgroups reads every qgroup's accounting and limits; ok is false when
// quotas are off or the accounting is inconsistent (then numbers lie).
func qgroups(fd int) (map[uint64]*qgroupInfo, bool, error) {
	items, err := treeSearch(fd, quotaTreeID, 0, 0, qgroupStatusKey, qgroupLimitKey)
	if errors.Is(err, unix.ENOENT) {
		return nil, false, nil // no quota tree: quotas off
	}
	if err != nil {
		return nil, false, err
	}
	out := map[uint64]*qgroupInfo{}
	get := func(id uint64) *qgroupInfo {
		if out[id] == nil {
			out[id] = &qgroupInfo{}
		}
		return out[id]
	}
	ok := false
	le := binary.LittleEndian
	for _, it := range items {
		switch it.Type {
		case qgroupStatusKey:
			if len(it.Data) >= 24 {
				ok = le.Uint64(it.Data[16:])&qgroupStatusInconsistent == 0
			}
		case qgroupInfoKey:
			if len(it.Data) >= 40 {
				q := get(it.Offset)
				q.Rfer = int64(le.Uint64(it.Data[8:]))
				q.Excl = int64(le.Uint64(it.Data[24:]))
			}
		case qgroupLimitKey:
			if len(it.Data) >= 24 {
				q := get(it.Offset)
				if le.Uint64(it.Data[0:])&qgroupLimitMaxRfer != 0 {
					if m := le.Uint64(it.Data[8:]); m != ^uint64(0) {
						q.MaxRfer = int64(m)
					}
				}
			}
		}
	}
	return out, ok, nil
}

// subvolumeIDs are the ids of every subvolume root the filesystem still
// holds (including deleted ones the cleaner has not dropped yet).
func subvolumeIDs(fd int) (map[uint64]bool, error) {
	items, err := treeSearch(fd, rootTreeID, firstFreeObjectID, ^uint64(0)-256, rootItemKey, rootItemKey)
	if err != nil {
		return nil, err
	}
	ids := map[uint64]bool{}
	for _, it := range items {
		ids[it.ObjectID] = true
	}
	return ids, nil
}

func closeFD(fd int) { unix.Close(fd) }
