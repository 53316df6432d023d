#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Guest side of the memory benchmark (issue 11, item 2): the kernel memory
# that N bans with a timeout and per-entry counters cost, for IPv4 and IPv6,
# at each table size, in
#   - ipset hash:ip (family inet or inet6; timeout, counters): its own
#     "Size in memory" (ipset list -t) and the system-wide delta;
#   - an nftables set (type ipv4_addr or ipv6_addr; timeout, counter) in a
#     netdev table: the system-wide delta (nft reports no size of its own);
#   - ffwall.ko (exact entries with a TTL; hits and last hit are always kept):
#     its STATS bytes and the system-wide delta.
# Each is measured alone, from a fresh state, with the same addresses.
#
# The system-wide delta ("kmem" below) is MemTotal minus MemFree, Buffers,
# Cached and AnonPages, plus Shmem, after `sync; echo 3 > drop_caches`, taken
# before the set is created and after it is loaded.  Every input file is
# written before the first reading and removed after the second, so files on
# tmpfs (Shmem) cancel out.  It counts all the implementation allocated:
# slab objects and their slack, vmalloc'ed arrays, page tables, and (for
# ffwall) the module's code and fixed arrays, since the module is loaded in
# between.  It is noisy (MiBs: free pages held on per-CPU lists, deferred
# frees), so a second figure, "parts", sums the deltas of what meminfo
# itemizes of the kernel's own memory: Slab + VmallocUsed + PageTables +
# KernelStack + Percpu.  That one misses allocations taken straight from the
# page allocator (kmalloc above 8 KiB, e.g. a hash bucket array of
# 256 KiB..4 MiB) and moves with reclaimable slab: neither figure is exact.
#
# Sizes: $FFWALL_MEM_SIZES, or else $FFWALL_BENCH_N/10 and $FFWALL_BENCH_N
# (default N = 1,000,000: 100k and 1M; bench --quick passes N = 10,000).
# Each load runs under a cap of $FFWALL_BENCH_CAP seconds (default 600); a load
# that hits it gives a row with "dnf":true, the cap and what was loaded.
# Writes one JSON object per line to $FFWALL_OUT/memory.ndjson:
#   {"impl":..,"family":"ipv4"|"ipv6","size":N,"entries":K,"self_reported_bytes":B,
#    "kernel_delta_kib":D,"slab_delta_kib":S,"load_seconds":T,"dnf":false}
set -euo pipefail
N=${FFWALL_BENCH_N:-1000000}
SIZES=${FFWALL_MEM_SIZES:-$((N / 10)) $N}
CAP=${FFWALL_BENCH_CAP:-600}
out=$FFWALL_OUT/memory.ndjson
: >"$out"
work=$(mktemp -d)
ctl=$FFWALL_TOOLS/ffwallctl
load=$FFWALL_TOOLS/ffwall-load

# Kernel memory in use, in KiB: "SYSTEM SLAB PARTS", the system-wide
# figure (see above), Slab, and the sum of the kernel's own allocations
# that meminfo itemizes (Slab + VmallocUsed + PageTables + KernelStack +
# Percpu).
kmem() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	sleep 1
	awk '/^MemTotal:/{t=$2} /^MemFree:/{f=$2} /^Buffers:/{b=$2} /^Cached:/{c=$2} /^AnonPages:/{a=$2} /^Shmem:/{s=$2}
	     /^Slab:/{sl=$2} /^VmallocUsed:/{v=$2} /^PageTables:/{pt=$2} /^KernelStack:/{ks=$2} /^Percpu:/{pc=$2}
	     END {print t - f - b - c - a + s, sl, sl + v + pt + ks + pc}' /proc/meminfo
}

emit() { echo "$1" | tee -a "$out"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# Readings around one load: begin; (load); finish IMPL FAMILY SIZE ENTRIES SELF DNF
begin() {
	read -r k0 s0 p0 <<<"$(kmem)"
	t0=$(now)
}
finish() {
	local t1 k1 s1 p1 self=""
	t1=$(now)
	read -r k1 s1 p1 <<<"$(kmem)"
	[ -n "$5" ] && self=",\"self_reported_bytes\":$5"
	emit "{\"impl\":\"$1\",\"family\":\"$2\",\"size\":$3,\"entries\":$4$self,\"kernel_delta_kib\":$((k1 - k0)),\"parts_delta_kib\":$((p1 - p0)),\"slab_delta_kib\":$((s1 - s0)),\"load_seconds\":$(secs "$t0" "$t1"),\"dnf\":$6,\"cap_s\":$CAP}"
}

# N distinct addresses spread over the space (i * 2654435761 mod 2^32 is a
# bijection): IPv4 from 1.0.0.0 up, IPv6 in 2001:db8::/32.
addresses() {
	awk -v n="$2" -v fam="$1" 'BEGIN { for (i = 0; i < n; i++) { x = (i * 2654435761) % 4294967296;
		if (fam == "ipv6") { printf "2001:db8:%x:%x::1\n", int(x / 65536), x % 65536; continue }
		if (x < 16777216) x += 16777216;
		printf "%d.%d.%d.%d\n", int(x / 16777216) % 256, int(x / 65536) % 256, int(x / 256) % 256, x % 256 } }' |
		sort -u
}

# The peers' modules are loaded first, as on a system that uses them: their
# code is not part of any delta.  ffwall.ko is loaded inside its own.
modprobe -a ip_set ip_set_hash_ip nf_tables
printf 'table netdev warm {\n  set s {\n    type ipv4_addr; flags timeout; counter;\n    elements = { 192.0.2.1 timeout 1d }\n  }\n}\n' >"$work/warm.nft"
nft -f "$work/warm.nft"
nft delete table netdev warm
ipset create warm hash:ip timeout 0 counters && ipset destroy warm

for n in $SIZES; do
	for fam in ipv4 ipv6; do
		rm -rf "${work:?}"/*
		addresses "$fam" "$n" >"$work/addrs"
		count=$(wc -l <"$work/addrs")
		if [ "$fam" = ipv4 ]; then ipfam=inet nfttype=ipv4_addr; else ipfam=inet6 nfttype=ipv6_addr; fi
		# Every input file first (see the header).
		{
			echo "create bench hash:ip family $ipfam hashsize $((count < 1024 ? 1024 : count)) maxelem $((count + 1024)) timeout 0 counters"
			sed 's/^/add bench /; s/$/ timeout 86400/' "$work/addrs"
		} >"$work/ipset.restore"
		# One table per size and family, never deleted (see the nftables step).
		tbl="bench_${fam}_$n"
		printf 'table netdev %s {\n  set ban { type %s; size %d; flags timeout; counter; }\n}\n' "$tbl" "$nfttype" $((count + 1024)) >"$work/set.nft"
		# Elements in chunks: one enormous command is slow to parse.
		split -l 50000 "$work/addrs" "$work/chunk."
		for f in "$work"/chunk.??; do
			{ printf 'add element netdev %s ban { ' "$tbl"; paste -sd, "$f" | tr -d '\n' | sed 's/,/ timeout 1d, /g'; printf ' timeout 1d }\n'; } >"$f.nft"
			rm "$f"
		done

		# ipset
		begin
		dnf=false
		timeout "$CAP" ipset restore -f "$work/ipset.restore" || dnf=true
		loaded=$(ipset list -t bench | awk -F': ' '/Number of entries/ {print $2}')
		self=$(ipset list -t bench | awk -F': ' '/Size in memory/ {print $2}')
		finish "ipset hash:ip timeout counters" "$fam" "$n" "${loaded:-0}" "$self" $dnf
		ipset destroy bench
		sleep 2

		# nftables: counts the elements loaded as it goes (listing a large set is slow).
		echo 0 >"$work/nft.loaded"
		begin
		dnf=false
		timeout "$CAP" bash -c 'set -e; nft -f "$1/set.nft"; k=0
			for f in "$1"/chunk.*.nft; do nft -f "$f"; k=$((k + $(grep -o , "$f" | wc -l) + 1)); echo $k >"$1/nft.loaded"; done' _ "$work" || dnf=true
		finish "nftables set timeout counter" "$fam" "$n" "$(cat "$work/nft.loaded")" "" $dnf
		# The table stays: `nft delete table` (and `nft get element`) first
		# reads the whole set back into nft's cache, which took 7 minutes for
		# 1M elements under emulation, about half of this benchmark.  A table
		# left loaded does not move the later deltas, which are taken around
		# each load; the guest has room for all four (about 0.5 GiB).
		sleep 2

		# ffwall.ko, loaded in between: its code and fixed arrays count.
		begin
		dnf=false
		insmod "$FFWALL_KO" max_entries=$((count + 1024))
		timeout "$CAP" "$load" ttl=86400 <"$work/addrs" >/dev/null || dnf=true
		# Every table STATS counts: the exact table, both prefix sets, the filter (none here).
		own=$(($("$ctl" stats bytes) + $("$ctl" stats prefix_bytes) + $("$ctl" stats allow_bytes) + $("$ctl" stats filter_bytes)))
		finish ffwall "$fam" "$n" "$("$ctl" stats entries)" "$own" $dnf
		"$ctl" lookup "$(head -n 1 "$work/addrs")" | grep -q 'verdict=drop' || echo "memory: ffwall does not drop $(head -n 1 "$work/addrs")" >&2
		rmmod ffwall
		sleep 2
	done
done

rm -rf "$work"
