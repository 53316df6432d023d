#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Check dkms.conf against the installed Debian headers: copy the module's
# sources to /usr/src/ffwall-<version>, `dkms add`, `dkms build -k <kver>`
# for every kernel of `scripts/kbuild.sh --list`, check that each build left
# an ffwall.ko of the right version and vermagic, then remove everything.
# Needs root and the `dkms` package.  Nothing is installed into
# /lib/modules: this checks the build, not the install.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

if ! command -v dkms >/dev/null; then
	echo "dkms-check: dkms is not installed (apt-get install --no-install-recommends dkms)" >&2
	exit 1
fi
ver=$(sed -n 's/^#define FFWALL_MODULE_VERSION[[:space:]]*"\(.*\)"$/\1/p' "$top/kmod/ffwall.h")
if [ -z "$ver" ]; then
	echo "dkms-check: no FFWALL_MODULE_VERSION in kmod/ffwall.h" >&2
	exit 1
fi
src=/usr/src/ffwall-$ver
if [ -e "$src" ] || [ -e "/var/lib/dkms/ffwall/$ver" ]; then
	echo "dkms-check: ffwall $ver is already known to DKMS ($src); remove it first:" >&2
	echo "  dkms remove -m ffwall -v $ver --all; rm -rf $src" >&2
	exit 1
fi
mapfile -t kvers < <("$top/scripts/kbuild.sh" --list)

cleanup() {
	dkms remove -m ffwall -v "$ver" --all >/dev/null 2>&1 || true
	rm -rf "$src" "/var/lib/dkms/ffwall/$ver"
	rmdir /var/lib/dkms/ffwall 2>/dev/null || true
}
trap cleanup EXIT

# The tree DKMS builds: dkms.conf, Kbuild and the module's sources only.
mkdir -p "$src/kmod"
cp "$top/dkms.conf" "$top/Kbuild" "$src/"
(cd "$top/kmod" && find . -type f \( -name '*.c' -o -name '*.h' \) -print0 |
	xargs -0 cp --parents -t "$src/kmod")

fail=0
dkms add -m ffwall -v "$ver"
for k in "${kvers[@]}"; do
	log=$(mktemp)
	if ! dkms build -m ffwall -v "$ver" -k "$k" >"$log" 2>&1; then
		cat "$log" >&2
		cat "/var/lib/dkms/ffwall/$ver/build/make.log" >&2 2>/dev/null || true
		echo "not ok - dkms build for $k"
		fail=1
		rm -f "$log"
		continue
	fi
	rm -f "$log"
	ko=$(find "/var/lib/dkms/ffwall/$ver/$k" -name 'ffwall.ko*' -print -quit 2>/dev/null)
	if [ -z "$ko" ]; then
		echo "not ok - dkms build for $k left no ffwall.ko"
		fail=1
		continue
	fi
	got_ver=$(modinfo -F version "$ko")
	got_magic=$(modinfo -F vermagic "$ko")
	if [ "$got_ver" = "$ver" ] && [ "${got_magic%% *}" = "$k" ]; then
		echo "ok - dkms build for $k: $ko (version $got_ver)"
	else
		echo "not ok - $ko: version '$got_ver', vermagic '$got_magic'"
		fail=1
	fi
done
exit $fail
