#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# `npm start`: run ffwall.
#  - On a host that can load modules: build ffwall.ko for the running kernel,
#    load it (devices= none: nothing is filtered until devices are attached)
#    and report its version.  (The sync daemon will run here in the
#    foreground once it lands.)
#  - On a host that cannot (like the project's build machines): say so in one
#    line, then run the same stack in a throwaway QEMU guest and stream its
#    output.  The host's own firewall is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."

why_no_modules() {
	if [ ! -e /proc/modules ]; then echo "the running kernel $(uname -r) has no loadable module support"
	elif [ "$(id -u)" != 0 ]; then echo "loading a module needs root"
	elif [ "$(cat /proc/sys/kernel/modules_disabled 2>/dev/null || echo 0)" != 0 ]; then echo "module loading is disabled (kernel.modules_disabled=1)"
	fi
}

prepare_userland() {
	if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
		npm ci --no-audit --no-fund --loglevel=error
	fi
	npm run --silent build >/dev/null
}

reason=$(why_no_modules)
if [ -z "$reason" ]; then
	kver=$(uname -r)
	if [ ! -e "/lib/modules/$kver/build/Makefile" ]; then
		echo "ffwall: headers for the running kernel are missing: apt-get install linux-headers-$kver" >&2
		exit 1
	fi
	bash scripts/install-deps.sh
	prepare_userland
	ko=$(scripts/kbuild.sh --kver "$kver")
	if [ -e /sys/module/ffwall ]; then
		echo "ffwall: ffwall.ko is already loaded"
	else
		insmod "$ko"
		echo "ffwall: loaded $ko (no devices attached yet)"
	fi
	exec node bin/run.js module version
fi

echo "ffwall: cannot load ffwall.ko here ($reason); running it in a throwaway QEMU guest instead."
bash scripts/install-deps.sh
prepare_userland
kver=$(scripts/kbuild.sh --list | while read -r k; do [ -e "/boot/vmlinuz-$k" ] && echo "$k"; done | tail -n 1)
if [ -z "$kver" ]; then
	echo "ffwall: no Debian kernel image with headers; run: apt-get install linux-image-amd64 linux-headers-amd64" >&2
	exit 1
fi
scripts/kbuild.sh --kver "$kver" >/dev/null
scripts/build-tools.sh
exec node scripts/start-vm.mjs "$kver"
