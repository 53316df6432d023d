#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Build the tiny initramfs that boots a Debian kernel for ffwall's VM tests:
# busybox-static as PID 1 (test/vm/init), and the modules that mounting the
# host's root over virtio-9p with an overlay needs, decompressed, in load order.
#
#   test/vm/initramfs.sh <kver> <output.cpio.gz>
set -euo pipefail

kver=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)

bb=/bin/busybox
[ -x "$bb" ] || { echo "initramfs: busybox-static is missing: apt-get install busybox-static" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/{bin,sbin,dev,proc,sys,lower,rw,newroot,mods}
cp "$bb" "$work/bin/busybox"
cp "$here/init" "$work/init"
chmod 755 "$work/init"

# The kernel's module autoloader runs /sbin/modprobe in PID 1's root, which
# is this initramfs, not the chroot the tests run in: forward it there.
cat >"$work/sbin/modprobe" <<'SH'
#!/bin/busybox sh
exec /bin/busybox chroot /newroot /sbin/modprobe "$@"
SH
chmod 755 "$work/sbin/modprobe"

# Modules in dependency order; --show-depends takes one module per call.
: >"$work/mods/order"
for m in virtio_pci virtio_rng 9pnet_virtio 9p overlay; do
	modprobe -S "$kver" --show-depends "$m" | while read -r kind path _; do
		[ "$kind" = insmod ] || continue
		base=$(basename "$path")
		base=${base%.xz}; base=${base%.zst}; base=${base%.gz}
		grep -qx "$base" "$work/mods/order" && continue
		case "$path" in
		*.xz) xz -dc "$path" >"$work/mods/$base" ;;
		*.zst) zstd -qdc "$path" >"$work/mods/$base" ;;
		*.gz) gzip -dc "$path" >"$work/mods/$base" ;;
		*) cp "$path" "$work/mods/$base" ;;
		esac
		echo "$base" >>"$work/mods/order"
	done
done

(cd "$work" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
