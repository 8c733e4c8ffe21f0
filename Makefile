# hull: build, install, test, demo. `make help` lists the targets.
GO ?= go
BIN := bin/hull
PREFIX ?= /usr/local

.PHONY: help build install deps test demo busybox-image debian-image bench clean

help:
	@echo "make build          build the static hull binary ($(BIN))"
	@echo "make install        install hull and its command symlinks in $(PREFIX)/bin"
	@echo "make demo           the README's first command: a node, a zone, vmadm list"
	@echo "make test           the whole test suite (root)"
	@echo "make busybox-image  build the busybox test image into build/images/busybox"
	@echo "make debian-image   build a minimal Debian lx image (debootstrap) into build/images/debian"
	@echo "make bench          the node core benchmark (vs bare runc and LXC)"

# Static: hull runs as PID 1 inside zones whose images have no libc.
# First the in-zone build (-tags zone: init, mdata tools, svcs), which
# the host binary then embeds and hands to zones.
ZONEBIN := cmd/hull/zonebin/hull
build:
	CGO_ENABLED=0 $(GO) build -trimpath -tags zone -o cmd/hull/zonebin/.hull.tmp ./cmd/hull
	mv cmd/hull/zonebin/.hull.tmp $(ZONEBIN)
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/hull

install: build
	install -m 0755 $(BIN) $(PREFIX)/bin/hull
	$(PREFIX)/bin/hull install $(PREFIX)/bin
	install -D -m 0644 dist/hulld.service /etc/systemd/system/hulld.service

deps:
	scripts/deps.sh

test:
	scripts/test.sh

demo:
	scripts/demo.sh

busybox-image:
	images/busybox/build.sh build/images/busybox

debian-image:
	images/debian/build.sh build/images/debian

bench: build
	$(BIN) bench

clean:
	rm -rf bin build $(ZONEBIN)
