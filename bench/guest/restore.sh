#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Guest side of the restore benchmark (issue 7): the ban database built on
# the host (bench/scale-db.ts, --records, default 10M) is on $FFWALL_DATA_DISK;
# ffwall.ko is loaded empty with a capacity of $FFWALL_BENCH_N (default 1M),
# and the daemon's window restore brings back the hottest bans, then a
# second start reconciles the full table (the reconcile phase runs only when
# $FFWALL_RESTORE_PHASES names it: bench/run.ts asks for it in the quick
# variant, see bench/README.md).  Writes $FFWALL_OUT/restore.ndjson.
set -euo pipefail
N=${FFWALL_BENCH_N:-1000000}
out=$FFWALL_OUT/restore.ndjson
: >"$out"
mkdir -p /mnt/scale
mount -t ext4 "$FFWALL_DATA_DISK" /mnt/scale
insmod "$FFWALL_KO" max_entries="$N"
# Each phase has a time cap ($FFWALL_BENCH_CAP, default 900 s; the
# reconcile phase $FFWALL_BENCH_RECONCILE_CAP, default 300 s): a phase that
# hits it gives a row with "dnf":true and its cap.
CAP=${FFWALL_BENCH_CAP:-900}
RECONCILE_CAP=${FFWALL_BENCH_RECONCILE_CAP:-300}
for phase in ${FFWALL_RESTORE_PHASES:-restore reconcile}; do
	cap=$CAP
	[ "$phase" = reconcile ] && cap=$RECONCILE_CAP
	if ! json=$(timeout "$cap" node dist/bench/restore-guest.js --db /mnt/scale --check-hot 1000); then
		echo "{\"phase\":\"$phase\",\"dnf\":true,\"cap_s\":$cap,\"window\":$("$FFWALL_TOOLS/ffwallctl" stats entries)}" | tee -a "$out"
		continue
	fi
	echo "$json" | node -e '
		const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
		console.log(JSON.stringify({
			phase: process.argv[1], mode: r.report.mode, records: r.records, window: r.kernelEntries + r.kernelPrefixes,
			seconds: Number(r.seconds.toFixed(2)), load_ms: r.report.timings.load, filter_ms: r.report.timings.filter,
			filter_members: r.report.filter.members, filter_bytes: r.report.filter.bytes,
			hot_in_kernel: `${r.hotInKernel}/${r.hotChecked}`, rss_mib: Math.round(r.rssBytes / 1048576),
		}));' "$phase" | tee -a "$out"
done
rmmod ffwall
umount /mnt/scale
