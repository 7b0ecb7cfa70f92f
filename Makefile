# Two entry points for a fresh Debian 12 machine (see README):
#   make main   set up, build the default board's image and prove it
#   make test   set up and run every test
# Both install what they need, and only what is missing, so they are cheap to re-run.

SHELL := /bin/bash
BOARD ?= qemu-virt

# Host packages, all from Debian's archive. armhf is never added to the host's
# dpkg: mmdebstrap needs no host armhf, and a half-synced armhf index would make
# every later apt-get update fail.
APT_PACKAGES := make gcc libc6-dev bc flex bison libssl-dev libelf-dev cpio xz-utils lzma \
	kmod ccache rsync git gcc-arm-linux-gnueabihf linux-source-6.1 u-boot-tools \
	device-tree-compiler lxc qemu-system-arm ipxe-qemu u-boot-qemu \
	openssh-client openssh-server mmdebstrap qemu-user-static binfmt-support arch-test \
	debian-archive-keyring e2fsprogs openssl ansible-core iperf3

.PHONY: all setup host-deps npm-deps build lint typecheck test test-unit test-tools test-e2e test-qemu main clean

all: build

setup: host-deps npm-deps build

host-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing host packages:" $$missing; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -q || echo "warning: apt-get update reported errors; trying to install anyway"; \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	else echo "host packages: all present"; fi

# npm ci only when package-lock.json changed since the last install. The tree npm ci made for a
# package.json, package-lock.json, node and npm is kept under kiln's cache and copied into the next
# clean checkout: npm ci took about 30 s of every clean clone's run, the copy 3 s. An entry is
# filed whole under a temporary name and renamed (a rename onto an entry another run filed first
# fails, and the copy is dropped); failing to keep one is only a warning; the newest three stay.
KILN_CACHE := $(abspath $(or $(KILN_CACHE_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kiln))
node_modules/.kiln-installed: package.json package-lock.json
	@key=$$( { cat package.json package-lock.json; node --version; npm --version; } | sha256sum | cut -c1-16 ); \
	store="$(KILN_CACHE)/node_modules"; kept="$$store/$$key"; \
	if [ -f "$$kept/.complete" ]; then \
		rm -rf node_modules && cp -a "$$kept/node_modules" node_modules || exit 1; \
		echo "node_modules: copied from $$kept (npm ci's tree for this package-lock.json)"; \
	else \
		npm ci --no-audit --no-fund || exit 1; \
		tmp=""; \
		{ mkdir -p "$$store" && tmp=$$(mktemp -d "$$store/.tmp-XXXXXX") && chmod 755 "$$tmp" && \
		  cp -a node_modules "$$tmp/node_modules" && touch "$$tmp/.complete" && \
		  { mv -T "$$tmp" "$$kept" 2>/dev/null || rm -rf "$$tmp"; }; } \
		|| { echo "warning: node_modules not kept in $$store (the next clean checkout runs npm ci again)" >&2; [ -z "$$tmp" ] || rm -rf "$$tmp"; }; \
		ls -1dt "$$store"/*/ 2>/dev/null | tail -n +4 | xargs -r rm -rf; \
	fi
	touch $@

npm-deps: node_modules/.kiln-installed

build: npm-deps
	npm run -s build

lint: npm-deps
	npx eslint .

typecheck: npm-deps
	npx tsc -p tsconfig.json --noEmit

# The quick steps run side by side, each one's output printed together when it ends: one after
# another they kept one of the two cores idle for about a minute.
test: host-deps npm-deps
	@$(MAKE) --no-print-directory -j4 --output-sync=target build typecheck lint test-unit
	npx vitest run --project tools --project e2e --project qemu

# Each tier alone: unit needs nothing built nor any tool, tools only the host packages; e2e and qemu share the builds under ~/.cache/kiln/e2e.
# The unit tier with nothing but node on PATH: a test that starts a tool fails here.
test-unit: npm-deps
	@bin=$$(mktemp -d) && ln -s "$$(command -v node)" "$$bin/node" && \
	PATH="$$bin" node node_modules/vitest/vitest.mjs run --project unit; rc=$$?; rm -rf "$$bin"; exit $$rc

test-tools: host-deps npm-deps
	npx vitest run --project tools

test-e2e: setup
	npx vitest run --project e2e

test-qemu: setup
	npx vitest run --project qemu

# The main job, one kiln command: build the default (emulated) board's image, boot
# it in QEMU through U-Boot from flash, prove it with kiln check and a real
# container, stop QEMU, print a summary (see `kiln all --help`).
OUT ?= out/$(BOARD)
main: setup
	./bin/kiln.js all --board $(BOARD) --out $(OUT)

clean:
	rm -rf dist out
