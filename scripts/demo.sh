#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# `npm run demo`: the mail story of issue 10 in a throwaway QEMU guest, on
# any machine with the README's install (the guest runs the host's own
# Postfix, swaks, node and this tree over a read-only 9p share; the host's
# network and firewall are never touched).  See scripts/demo-mail.sh.
# DEMO_GOOD, DEMO_BOTS and DEMO_SECONDS change the cast and the length.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build >/dev/null
kver=$(scripts/kbuild.sh --list | while read -r k; do [ -e "/boot/vmlinuz-$k" ] && echo "$k"; done | tail -n 1)
if [ -z "$kver" ]; then
	echo "ffwall demo: no Debian kernel image with headers; run: apt-get install linux-image-amd64 linux-headers-amd64" >&2
	exit 1
fi
scripts/kbuild.sh --kver "$kver" >/dev/null
scripts/build-tools.sh
exec node scripts/demo-vm.mjs "$kver"
