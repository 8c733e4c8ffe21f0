#!/usr/bin/env bash
# hull's main job on its embedded defaults: a node with a pool, hulld
# running, the busybox image installed, a zone created and running, and
# vmadm list and a zlogin command shown.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
scripts/deps.sh
export PATH=/usr/local/go/bin:$PATH GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
make -s build
install -m 0755 bin/hull /usr/local/bin/hull
hull install /usr/local/bin >/dev/null
export HULL_ROOT=${HULL_ROOT:-/var/lib/hull}
mkdir -p "$HULL_ROOT"

# hulld: under systemd when there is one, else in the background. A
# socket left by a hulld that died does not answer: ask it.
sock=$HULL_ROOT/run/hulld.sock
up() { curl -fs --unix-socket "$sock" http://hulld/ping >/dev/null 2>&1; }
if ! up; then
	if [ -d /run/systemd/system ] && [ "$HULL_ROOT" = /var/lib/hull ]; then
		install -m 0644 dist/hulld.service /etc/systemd/system/hulld.service
		systemctl daemon-reload && systemctl enable --now hulld
	else
		nohup hulld >>"$HULL_ROOT/hulld.log" 2>&1 &
	fi
	for _ in $(seq 100); do up && break; sleep 0.1; done
	up || { echo "hulld did not start: see $HULL_ROOT/hulld.log" >&2; exit 1; }
fi

# The busybox image, built from Debian's busybox-static, published to
# the node's own IMGAPI server and imported from it as from any source.
img=dc0688f0-0f6b-4b10-9a1e-2d9fa4ad9d22
if ! imgadm get "$img" >/dev/null 2>&1; then
	images/busybox/build.sh build/images/busybox >/dev/null
	repo=$HULL_ROOT/imgapi url=http://127.0.0.1:8089
	mkdir -p "$repo"
	token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
	hull imgapi serve --dir "$repo" --listen 127.0.0.1:8089 --token "$token" >>"$HULL_ROOT/imgapi.log" 2>&1 &
	srv=$!
	trap 'kill $srv 2>/dev/null' EXIT
	for _ in $(seq 50); do curl -fs "$url/ping" >/dev/null && break; sleep 0.1; done
	IMGADM_TOKEN=$token imgadm publish -m build/images/busybox/busybox.json -f build/images/busybox/busybox.tar.gz "$url" >/dev/null
	imgadm import -S "$url" "$img"
fi

# One zone, created once.
if [ -z "$(vmadm lookup alias=demo)" ]; then
	vmadm create <<JSON
{
  "alias": "demo",
  "hostname": "demo",
  "brand": "joyent-minimal",
  "image_uuid": "$img",
  "max_physical_memory": 256,
  "max_lwps": 500,
  "quota": 5,
  "nics": [{"nic_tag": "hullstub0", "network_uuid": "3f4c2d1e-6a5b-4c8d-9e0f-1a2b3c4d5e6f", "primary": true}]
}
JSON
fi
uuid=$(vmadm lookup -1 alias=demo)
[ "$(vmadm list -p -o state uuid="$uuid")" = running ] || vmadm start "$uuid"
echo
vmadm list
echo
echo "# zlogin demo 'hostname; id; ps; ip -4 -o addr show net0; ping -c1 10.199.0.1'"
zlogin demo 'hostname; id; ps; ip -4 -o addr show net0; ping -c1 10.199.0.1'
