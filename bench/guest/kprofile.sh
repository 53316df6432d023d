#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Guest side of the kernel profile (bench/kprofile.ts): runs the bulk
# benchmark's kernel loads between the marks of the kprofile TCG plugin
# (tools/qemu-plugin/kprofile.c), which counts the instructions of every
# kernel block they execute.  Writes the guest's kernel symbols after
# each run ($FFWALL_OUT/kallsyms.K) and one JSON line per marked run, in mark order, to
# $FFWALL_OUT/kprofile.ndjson.
set -uo pipefail
N=${FFWALL_BENCH_N:-1000000}
out=$FFWALL_OUT/kprofile.ndjson
: >"$out"
work=$(mktemp -d)
ctl=$FFWALL_TOOLS/ffwallctl
mark=$FFWALL_TOOLS/mark

awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) { x = (i * 2654435761) % 4294967296; if (x < 16777216) x += 16777216;
	printf "%d.%d.%d.%d\n", int(x / 16777216) % 256, int(x / 65536) % 256, int(x / 256) % 256, x % 256 } }' |
	sort -u >"$work/addrs"
n=$(wc -l <"$work/addrs")

seq=0
# profile LABEL COMMAND...: one marked run; the line records its label and status.
profile() {
	local label=$1 rc
	shift
	sync
	"$mark" "$@" >"$work/last" 2>"$work/err"
	rc=$?
	seq=$((seq + 1))
	grep -i ' t ' /proc/kallsyms >"$FFWALL_OUT/kallsyms.$seq"
	echo "{\"seq\":$seq,\"label\":\"$label\",\"entries\":$n,\"rc\":$rc,\"kernel_entries\":$("$ctl" stats entries 2>/dev/null || echo null)}" | tee -a "$out"
}

insmod "$FFWALL_KO" max_entries=$((n + 1024))
profile "ffwallctl add-seq" "$ctl" add-seq 1.0.0.0 "$n" 65536
rmmod ffwall
insmod "$FFWALL_KO" max_entries=$((n + 1024))
profile "ffwallctl add-seq after RESERVE" "$ctl" add-seq 1.0.0.0 "$n" 65536 reserve
rmmod ffwall
# The library's start-up and exit alone: node itself, then the same run
# with a feed of one address.
profile "node -e 0 (start-up floor)" node -e 0
head -n 1 "$work/addrs" >"$work/one"
insmod "$FFWALL_KO" max_entries=$((n + 1024))
profile "library blockFeed of 1 address (start-up)" node dist/bench/bulk-guest.js --file "$work/one" --no-db
rmmod ffwall
insmod "$FFWALL_KO" max_entries=$((n + 1024))
profile "library blockFeed (database false)" node dist/bench/bulk-guest.js --file "$work/addrs" --no-db
rmmod ffwall
if [ "${FFWALL_KPROFILE_PEERS:-1}" = 1 ]; then
	{
		echo "create bulk hash:ip family inet hashsize 1048576 maxelem $((n + 1024))"
		sed 's/^/add bulk /' "$work/addrs"
	} >"$work/ipset.restore"
	profile "ipset restore" ipset restore -file "$work/ipset.restore"
	ipset destroy bulk
fi
echo '{"done":true}' | tee -a "$out"
