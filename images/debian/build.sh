#!/bin/bash
# Builds a minimal Debian lx image with debootstrap --variant=minbase:
#   OUTDIR/debian.tar.gz   the root filesystem (gzip'd tar, numeric owners)
#   OUTDIR/debian.json     its IMGAPI v2 manifest (type lx-dataset)
# An lx zone runs the image's own /sbin/init, which minbase lacks: the
# image has sysvinit's, with an inittab for a zone (no gettys; a power
# failure, hull's stop request, shuts down).
# Install it with: imgadm install -m OUTDIR/debian.json -f OUTDIR/debian.tar.gz
# SUITE (default bookworm) and MIRROR (default the host's apt mirror or
# deb.debian.org) can be set in the environment.
set -euo pipefail

out=${1:?usage: build.sh OUTDIR}
suite=${SUITE:-bookworm}
mirror=${MIRROR:-}
if [ -z "$mirror" ]; then
	mirror=$(grep -hoE '^(deb|URIs:)[^#]*https?://[^ ]+/debian/?' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
		grep -oE 'https?://[^ ]+/debian/?' | head -1 || true)
	mirror=${mirror:-http://deb.debian.org/debian}
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

if ! command -v debootstrap >/dev/null; then
	echo "build.sh: installing debootstrap" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2
fi

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase --include=sysvinit-core "$suite" "$rootfs" "$mirror" >&2
cat > "$rootfs/etc/inittab" <<'INITTAB'
# hull lx zone: no consoles to run gettys on; the zone's console is
# init's stdout.
id:2:initdefault:
si::sysinit:/etc/init.d/rcS
l0:0:wait:/etc/init.d/rc 0
l1:1:wait:/etc/init.d/rc 1
l2:2:wait:/etc/init.d/rc 2
l6:6:wait:/etc/init.d/rc 6
pf::powerwait:/sbin/shutdown -h now
INITTAB
# What the zone's own init and hull provide at boot.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
: > "$rootfs/etc/resolv.conf"
echo debian > "$rootfs/etc/hostname"

version=$(cat "$rootfs/etc/debian_version")
epoch=$(date +%s)
published=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%S.000Z)
# The uuid is derived from suite and version, so a rebuild of the same
# release keeps its uuid.
uuid=$(printf '%s' "hull-debian-$suite-$version" | sha1sum | cut -c1-32 |
	sed -E 's/(.{8})(.{4}).(.{3}).(.{3})(.{12})/\1-\2-4\3-8\4-\5/')

file=$out/debian.tar.gz
tar --numeric-owner --sort=name --xattrs --xattrs-include='security.capability' \
	-C "$rootfs" -cf - . | gzip -n -6 > "$file.tmp"
mv "$file.tmp" "$file"
sha1=$(sha1sum "$file" | cut -d' ' -f1)
size=$(stat -c %s "$file")

cat > "$out/debian.json.tmp" <<MANIFEST
{
  "v": 2,
  "uuid": "$uuid",
  "owner": "00000000-0000-0000-0000-000000000000",
  "name": "debian-${suite}",
  "version": "$version",
  "description": "Minimal Debian $suite (debootstrap --variant=minbase) for lx zones",
  "type": "lx-dataset",
  "os": "linux",
  "public": true,
  "published_at": "$published",
  "requirements": {"brand": "lx"},
  "files": [{"sha1": "$sha1", "size": $size, "compression": "gzip"}]
}
MANIFEST
mv "$out/debian.json.tmp" "$out/debian.json"
echo "$out/debian.json $file"
