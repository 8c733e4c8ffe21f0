package vm

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Value checkers for single strings. SmartOS's rules where it has them
// (uuid, MAC, CID, attribute values, resolvers); RFC 1123 for names.

var (
	uuidRE      = newLazyRE(`^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$`)
	attrValueRE = newLazyRE(`^[a-zA-Z0-9\-._]+$`)
	labelRE     = newLazyRE(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	zonenameRE  = newLazyRE(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	macHexRE    = newLazyRE(`^[0-9a-fA-F:]+$`)
	cidRE       = newLazyRE(`^0x[0-9a-fA-F]+$`)
	addNicTagRE = newLazyRE(`^[a-zA-Z0-9_/]+$`)
	updNicTagRE = newLazyRE(`^[a-zA-Z0-9_]+$`)
)

// IsUUID reports whether s is a lower-case 8-4-4-4-12 uuid, as SmartOS
// requires.
func IsUUID(s string) bool { return uuidRE.MatchString(s) }

func validAttrValue(s string) bool { return attrValueRE.MatchString(s) }

func validIP(s string) bool { return net.ParseIP(s) != nil }

func validIPv4(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4()
}

func validCID(s string) bool {
	return cidRE.MatchString(s) && len(s)%2 == 0 && len(s) <= 512
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 65535
}

// validMAC accepts six colon-separated octets of one or two hex digits
// (SmartOS tolerates zonecfg's 1:2:3:4:5:6 form).
func validMAC(s string) bool {
	if !macHexRE.MatchString(s) {
		return false
	}
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return false
	}
	for _, p := range parts {
		if len(p) < 1 || len(p) > 2 {
			return false
		}
	}
	return true
}

// normalMAC returns a MAC with two lower-case digits per octet.
func normalMAC(s string) string {
	parts := strings.Split(s, ":")
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 16, 8)
		if err != nil {
			return s
		}
		parts[i] = strconv.FormatUint(n|0x100, 16)[1:]
	}
	return strings.Join(parts, ":")
}

// validHostname: RFC 1123 labels, at most 63 characters in all so the
// name fits the kernel's nodename.
func validHostname(s string) bool {
	if len(s) > 63 {
		return false
	}
	return validLabels(s)
}

func validDomain(s string) bool {
	return len(s) <= 253 && validLabels(strings.TrimSuffix(s, "."))
}

func validLabels(s string) bool {
	if s == "" {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !labelRE.MatchString(l) {
			return false
		}
	}
	return true
}

// validZonename follows illumos: alphanumeric first, then [-_.a-zA-Z0-9],
// at most 64 characters.
func validZonename(s string) bool { return zonenameRE.MatchString(s) }

// isAutoconf reports the ips keywords that are not addresses.
func isAutoconf(s string) bool { return s == "dhcp" || s == "addrconf" }

// validCIDR accepts addr/len, IPv4 or IPv6.
func validCIDR(s string) bool {
	_, err := netip.ParsePrefix(s)
	return err == nil
}

// validRecordSize: a power of two from 512 to 131072.
func validRecordSize(n int64) bool {
	return n >= 512 && n <= 131072 && n&(n-1) == 0
}

// compressionTypes are the values zfs_*_compression accept, in SmartOS's
// order (used in its error message).
var compressionTypes = []string{"on", "off", "gzip", "gzip-1", "gzip-2",
	"gzip-3", "gzip-4", "gzip-5", "gzip-6", "gzip-7", "gzip-8", "gzip-9",
	"lz4", "lzjb", "zle"}

// isPrivateIP reports RFC 1918 IPv4 addresses; used to pick a new primary
// NIC the way SmartOS does.
func isPrivateIP(s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return false
	}
	for _, p := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} {
		if netip.MustParsePrefix(p).Contains(a) {
			return true
		}
	}
	return false
}
