#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Build ffwall.ko for one or more kernels, each in its own output directory
# (build/kmod/<kver>/, or <kver>-debug/ for --debug), so that builds for different kernels never clash.
#
#   scripts/kbuild.sh                 the running kernel if its headers exist,
#                                     else the newest installed Debian headers
#   scripts/kbuild.sh --kver 6.1.0-56-amd64
#   scripts/kbuild.sh --all           every kernel with headers in /lib/modules
#   scripts/kbuild.sh --list          print the kernels that would be built by --all
#   scripts/kbuild.sh --debug         define DEBUG (selftests at load)
#   scripts/kbuild.sh --strict        W=1 and sparse (C=1); any warning fails
#
# KVER in the environment works as --kver.  Prints the path of each module.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
kvers=()
all=0
list=0
debug=0
strict=0
[ -n "${KVER:-}" ] && kvers+=("$KVER")
while [ $# -gt 0 ]; do
	case "$1" in
	--kver) kvers+=("$2"); shift ;;
	--kver=*) kvers+=("${1#--kver=}") ;;
	--all) all=1 ;;
	--list) list=1; all=1 ;;
	--debug) debug=1 ;;
	--strict) strict=1 ;;
	-h|--help) sed -n '3,16p' "$0"; exit 0 ;;
	*) echo "kbuild: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done

# Kernels with a usable build tree, oldest first (version sort).
installed_kernels() {
	local d
	for d in /lib/modules/*/build; do
		[ -e "$d/Makefile" ] || continue
		d=${d%/build}
		echo "${d#/lib/modules/}"
	done | sort -V
}

if [ "$all" = 1 ]; then
	mapfile -t kvers < <(installed_kernels)
elif [ ${#kvers[@]} -eq 0 ]; then
	if [ -e "/lib/modules/$(uname -r)/build/Makefile" ]; then
		kvers=("$(uname -r)")
	else
		k=$(installed_kernels | tail -n 1)
		[ -n "$k" ] && kvers=("$k")
	fi
fi

if [ ${#kvers[@]} -eq 0 ]; then
	echo "kbuild: no kernel headers found in /lib/modules/*/build." >&2
	echo "kbuild: install them with: apt-get install linux-headers-amd64" >&2
	exit 1
fi
if [ "$list" = 1 ]; then
	printf '%s\n' "${kvers[@]}"
	exit 0
fi

for kver in "${kvers[@]}"; do
	kdir=/lib/modules/$kver/build
	if [ ! -e "$kdir/Makefile" ]; then
		echo "kbuild: no headers for $kver; install linux-headers-$kver" >&2
		exit 1
	fi
	out=$top/build/kmod/$kver
	[ "$debug" = 1 ] && out=$out-debug
	mkdir -p "$out/kmod"
	# A private copy of the sources: kbuild writes its objects next to them.
	cp "$top/Kbuild" "$out/Kbuild"
	(cd "$top/kmod" && find . -type f \( -name '*.c' -o -name '*.h' \) -print0 |
		xargs -0 cp --parents -u -t "$out/kmod")
	args=(-C "$kdir" M="$out")
	[ "$debug" = 1 ] && args+=(FFWALL_DEBUG=y)
	[ "$strict" = 1 ] && args+=(W=1 C=1)
	# Rebuild from scratch when the flags change: they are not tracked per object.
	flags="debug=$debug strict=$strict"
	if [ "$(cat "$out/.ffwall-flags" 2>/dev/null)" != "$flags" ]; then
		make "${args[@]}" clean >/dev/null 2>&1 || true
		echo "$flags" >"$out/.ffwall-flags"
	fi
	[ "$strict" = 1 ] && find "$out" -name '*.o' -delete
	log=$out/build.log
	if ! make "${args[@]}" -j"$(nproc)" modules >"$log" 2>&1; then
		cat "$log" >&2
		echo "kbuild: build failed for $kver (log: $log)" >&2
		exit 1
	fi
	# W=1 and sparse report through warnings; treat each as an error.
	# "Skipping BTF generation" is kbuild's note about vmlinux, not ours.
	if grep -E 'warning:|error:|sparse:' "$log" | grep -v 'Skipping BTF generation' >&2; then
		echo "kbuild: warnings building for $kver (log: $log)" >&2
		exit 1
	fi
	echo "$out/ffwall.ko"
done
