#!/bin/bash
# Builds hull's busybox test image from Debian's busybox-static package:
#   OUTDIR/busybox.tar.gz   the root filesystem (gzip'd tar, owners 0:0)
#   OUTDIR/busybox.json     its IMGAPI v2 manifest
# The uuid is fixed so tests and the docs can name the image:
#   imgadm install -m OUTDIR/busybox.json -f OUTDIR/busybox.tar.gz
set -euo pipefail

UUID=dc0688f0-0f6b-4b10-9a1e-2d9fa4ad9d22

out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The image has no libc, so busybox must be the static build.
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
	echo "build.sh: installing busybox-static" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static >&2
fi
bb=/bin/busybox
[ -x "$bb" ] || { echo "build.sh: $bb is missing after installing busybox-static" >&2; exit 1; }

# The package version without its epoch ("1:1.35.0-4" -> "1.35.0-4"):
# manifest versions may not contain ":".
version=$(dpkg-query -W -f='${Version}' busybox-static)
version=${version#*:}
# Times come from the binary, so rebuilding the same package gives the
# same file (and sha1).
epoch=$(stat -c %Y "$bb")
published=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%S.000Z)

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
chmod 0755 "$rootfs"

cd "$rootfs"
install -d -m 0755 bin sbin usr/bin usr/sbin etc etc/rc.d dev proc sys var
install -d -m 0700 root
install -d -m 1777 tmp var/tmp
install -m 0755 "$bb" bin/busybox

# One symlink per applet, where busybox itself would install it.
"$bb" --list-full | while read -r applet; do
	[ "$applet" = bin/busybox ] && continue
	[ -e "$applet" ] || [ -L "$applet" ] && continue
	mkdir -p "$(dirname "$applet")"
	ln -s /bin/busybox "$applet"
done
[ -L bin/sh ] || ln -s /bin/busybox bin/sh

cat > etc/passwd <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > etc/group <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
echo busybox > etc/hostname
cat > etc/hosts <<'HOSTS'
127.0.0.1	localhost
::1		localhost
HOSTS
cat > etc/profile <<'PROFILE'
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=${HOME:-/root}
PS1='\h:\w\$ '
PROFILE
: > etc/resolv.conf
chmod 0644 etc/passwd etc/group etc/hostname etc/hosts etc/profile etc/resolv.conf

file=$out/busybox.tar.gz
tar --numeric-owner --owner=0 --group=0 --sort=name --mtime="@$epoch" \
	-C "$rootfs" -cf - . | gzip -n -9 > "$file.tmp"
mv "$file.tmp" "$file"
sha1=$(sha1sum "$file" | cut -d' ' -f1)
size=$(stat -c %s "$file")

cat > "$out/busybox.json.tmp" <<MANIFEST
{
  "v": 2,
  "uuid": "$UUID",
  "owner": "00000000-0000-0000-0000-000000000000",
  "name": "busybox",
  "version": "$version",
  "description": "BusyBox $version (Debian busybox-static): a minimal Linux image for hull's tests",
  "state": "active",
  "disabled": false,
  "public": true,
  "published_at": "$published",
  "type": "zone-dataset",
  "os": "linux",
  "files": [
    {
      "sha1": "$sha1",
      "size": $size,
      "compression": "gzip"
    }
  ],
  "requirements": {}
}
MANIFEST
mv "$out/busybox.json.tmp" "$out/busybox.json"
echo "$out/busybox.json"
echo "$file"
