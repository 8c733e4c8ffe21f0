#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, vets, and runs
# every test as root against the real kernel.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "the test suite runs as root (zones are real)" >&2; exit 1; }
scripts/deps.sh
export PATH=/usr/local/go/bin:$PATH GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
make -s build
unformatted=$(gofmt -l cmd internal docs)
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
go vet ./...
# Packages run one at a time: root tests share the host's cgroups and
# mounts, and the machine has two cores.
go test -count=1 -p 1 -timeout 25m ./... 2>&1 | tee /tmp/hull-test.log
# Again under the race detector, the packages whose goroutines share
# state: the service manager, image import, the journal, the metadata
# server.
CGO_ENABLED=1 go test -race -count=1 -p 1 -timeout 10m ./internal/smf/... ./internal/image ./internal/journal ./internal/metadata/... 2>&1 | tee -a /tmp/hull-test.log
