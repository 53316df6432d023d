#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Guest side of the memory benchmark: the kernel memory that N IPv4 bans
# with a timeout and per-entry counters cost in
#   - ipset hash:ip (timeout, counters), its own "Size in memory" and the
#     system-wide delta,
#   - an nftables set (timeout, counter) in a netdev table, system-wide delta,
#   - ffwall.ko, its STATS bytes and the system-wide delta (the delta also
#     counts the module's code, a few tens of KiB).
# Each one is measured alone, in a fresh state, with the same addresses.
# Writes one JSON object per line to $FFWALL_OUT/memory.ndjson.
set -euo pipefail
N=${FFWALL_BENCH_N:-1000000}
out=$FFWALL_OUT/memory.ndjson
: >"$out"
work=$(mktemp -d)

# Kernel memory in use, in KiB: everything that is neither free nor page
# cache nor user anonymous memory.  Slab, vmalloc and page tables move with it.
kmem() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	sleep 1
	awk '/^MemTotal:/{t=$2} /^MemFree:/{f=$2} /^Buffers:/{b=$2} /^Cached:/{c=$2} /^AnonPages:/{a=$2} /^Shmem:/{s=$2}
	     END {print t - f - b - c - a + s}' /proc/meminfo
}

emit() { echo "$1" | tee -a "$out"; }

# N distinct addresses in 10.0.0.0/8 and above, spread over the space.
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) { x = (i * 2654435761) % 4294967296; if (x < 16777216) x += 16777216;
	printf "%d.%d.%d.%d\n", int(x / 16777216) % 256, int(x / 65536) % 256, int(x / 256) % 256, x % 256 } }' |
	sort -u >"$work/addrs"
n=$(wc -l <"$work/addrs")

# ipset hash:ip with timeout and counters.
before=$(kmem)
{
	echo "create bench hash:ip family inet hashsize 1048576 maxelem $((n + 1024)) timeout 0 counters"
	sed 's/^/add bench /; s/$/ timeout 86400/' "$work/addrs"
} | ipset restore
after=$(kmem)
self=$(ipset list -t bench | awk -F': ' '/Size in memory/ {print $2}')
emit "{\"impl\":\"ipset hash:ip timeout counters\",\"entries\":$n,\"self_reported_bytes\":$self,\"kernel_delta_kib\":$((after - before))}"
ipset destroy bench

# nftables set with timeout and counters, in a netdev ingress table.
before=$(kmem)
{
	echo "table netdev bench {"
	echo "  set ban { type ipv4_addr; size $((n + 1024)); flags timeout; counter; }"
	echo "}"
} >"$work/nft.conf"
nft -f "$work/nft.conf"
# Elements in chunks: one enormous command line is slow to parse.
split -l 50000 "$work/addrs" "$work/chunk."
for f in "$work"/chunk.*; do
	{ printf 'add element netdev bench ban { '; paste -sd, "$f" | tr -d '\n' | sed 's/,/ timeout 1d, /g'; printf ' timeout 1d }\n'; } >"$f.nft"
	nft -f "$f.nft"
done
after=$(kmem)
first=$(head -n 1 "$work/addrs")
nft get element netdev bench ban "{ $first }" >/dev/null
emit "{\"impl\":\"nftables set timeout counter\",\"entries\":$n,\"kernel_delta_kib\":$((after - before))}"
nft delete table netdev bench

# ffwall.ko: whole-address entries with a TTL (hits and last hit are always
# kept).  Sequential addresses: the table hashes with SipHash, so their order
# does not matter to its memory.
ctl=$FFWALL_TOOLS/ffwallctl
before=$(kmem)
insmod "$FFWALL_KO" max_entries=$((n + 1024))
"$ctl" add-seq 16.0.0.0 "$n" >/dev/null
after=$(kmem)
self=$("$ctl" stats bytes)
entries=$("$ctl" stats entries)
emit "{\"impl\":\"ffwall\",\"entries\":$entries,\"self_reported_bytes\":$self,\"kernel_delta_kib\":$((after - before))}"
rmmod ffwall

rm -rf "$work"
