#!/usr/bin/env bash
# Installs what hull needs on a Debian/Ubuntu host: the OCI runtime, the
# packages test images are built from, and the peers the benchmark
# compares against. Safe to run again.
set -euo pipefail
need=(runc btrfs-progs iputils-ping iperf3 docker-registry apache2-utils busybox-static curl zstd xz-utils ca-certificates make gcc lxc iproute2 procps util-linux psmisc)
# cloud-init is here for its SmartOS datasource, which the metadata tests
# run against hull's server; it must never configure this host.
mkdir -p /etc/cloud && touch /etc/cloud/cloud-init.disabled
need+=(cloud-init)
missing=()
for p in "${need[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Go: the module's toolchain comes through the Go module proxy when the
# installed one is older.
if ! command -v go >/dev/null; then
	if [ -x /usr/local/go/bin/go ]; then
		export PATH=/usr/local/go/bin:$PATH
	else
		apt-get install -y -qq golang-go >/dev/null
	fi
fi
