"""Run cloud-init's SmartOS datasource against a hull metadata socket.

Usage: cloudinit_smartos.py SOCKET WORKDIR

Prints one JSON object: what the datasource found (metadata, user-data)
and what its client reads directly (KEYS, a JSON key, PUT and DELETE).
"""
import json
import os
import sys

from cloudinit import helpers
from cloudinit.sources import DataSourceSmartOS as ds

sock, work = sys.argv[1], sys.argv[2]

# The datasource recognises an LX zone by its uname; a hull zone is a
# Linux container, so say which kind of SmartOS guest this is.
ds.get_smartos_environ = lambda *a, **k: ds.SMARTOS_ENV_LX_BRAND
# Files it would write under /var/db go to the work directory.
ds.LEGACY_USER_D = os.path.join(work, "db")
os.makedirs(ds.LEGACY_USER_D, exist_ok=True)

paths = helpers.Paths({"cloud_dir": os.path.join(work, "cloud"),
                       "run_dir": os.path.join(work, "run")})
sys_cfg = {"datasource": {"SmartOS": {"metadata_sockfile": sock}}}
source = ds.DataSourceSmartOS(sys_cfg, None, paths)
ok = source._get_data()

client = ds.JoyentMetadataSocketClient(sock)
with client:
    keys = client.list()
    nics = client.get_json("sdc:nics")
    client.put("cloud-init:status", "done")
    status = client.get("cloud-init:status")
    client.delete("cloud-init:status")
    gone = client.get("cloud-init:status", default="<gone>")

md = source.metadata
print(json.dumps({
    "ok": ok,
    "instance-id": md.get("instance-id"),
    "local-hostname": md.get("local-hostname"),
    "hostname": md.get("hostname"),
    "availability_zone": md.get("availability_zone"),
    "dns_domain": md.get("dns_domain"),
    "public-keys": md.get("public-keys"),
    "dns_servers": md.get("dns_servers"),
    "routes": md.get("routes"),
    "network-data": md.get("network-data"),
    "operator-script": md.get("operator-script"),
    "user-data": source.userdata_raw,
    "legacy-user-data": md.get("legacy-user-data"),
    "keys": keys,
    "nics": nics,
    "put-get": status,
    "after-delete": gone,
}, sort_keys=True))
