#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Guest side of the bulk benchmark (issue 11, items 3 and 4): the same N
# IPv4 addresses ($FFWALL_BENCH_N, default 1,000,000), in this order:
#   1. listing of a database that holds them (built on the host by
#      bench/scale-db.ts --plain, on $FFWALL_DATA_DISK: what `ffwall import`
#      of them leaves): ffwall list --json straight after the mount (cold
#      page cache), then with the database file in the page cache (as an
#      import or the daemon leaves it) ffwall list --json and ffwall export
#      (plain), and an export that selects no ban (the CLI's fixed cost);
#      then the export and list --json again with --threads 1;
#   2. the kernel alone: ffwallctl add-seq (C, N sequential addresses in
#      ioctls of 65,536; once more after one RESERVE of N) and the library
#      with database: false (which sends RESERVE itself)
#      (bench/bulk-guest.ts --no-db: the same addresses, parsed in JS);
#   3. ipset restore (hash:ip, one restore file), ipset save;
#   4. nft -f (one file: a table, a set and the elements in statements of
#      50,000; one transaction), nft list set;
#   5. ffwall durable: the CLI import (a plain file; module and a fresh
#      database), with when the kernel held (dropped) all of them, the same
#      import through a running daemon (its socket), and the library
#      (blockMany of 10,000, bench/bulk-guest.ts).
# Every timed command runs once before, untimed, on a one-entry input (the
# same for every peer: warm()), so that no row pays for the first read of its
# program's files: over 9p under emulation, the first run of the library
# after boot took 0.7 s longer than the next (node, the bundle, the addon).
# Every step has a time cap ($FFWALL_BENCH_CAP, default 300 s; nft's load
# $FFWALL_BENCH_NFT_CAP, default 240 s): a step that hits it is reported as
# "did not finish (cap N s)", with how far it got.  The fresh databases live
# on the guest's tmpfs overlay (fsync is cheap: the figure is CPU, not disk).
# $FFWALL_BULK_STEPS (default "list kernel ipset nft durable") picks the
# groups to run (a second run of the capped durable steps with a longer cap);
# "daemon" runs only the durable group's import through the daemon.
# Writes one JSON object per line to $FFWALL_OUT/bulk.ndjson.
set -uo pipefail
STEPS=" ${FFWALL_BULK_STEPS:-list kernel ipset nft durable} "
want() { [[ "$STEPS" == *" $1 "* ]]; }
N=${FFWALL_BENCH_N:-1000000}
CAP=${FFWALL_BENCH_CAP:-300}
NFT_CAP=${FFWALL_BENCH_NFT_CAP:-240}
out=$FFWALL_OUT/bulk.ndjson
: >"$out"
work=$(mktemp -d)
ctl=$FFWALL_TOOLS/ffwallctl

# N distinct addresses spread over the space (as the memory benchmark;
# bench/scale-db.ts bulkAddresses() makes the same set).
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) { x = (i * 2654435761) % 4294967296; if (x < 16777216) x += 16777216;
	printf "%d.%d.%d.%d\n", int(x / 16777216) % 256, int(x / 65536) % 256, int(x / 256) % 256, x % 256 } }' |
	sort -u >"$work/addrs"
n=$(wc -l <"$work/addrs")

now() { date +%s.%N; }
# step OP IMPL CAP COMMAND...: times COMMAND under a cap, emits a row; the command's stdout goes to $work/last.
step() {
	local op=$1 impl=$2 cap=$3
	shift 3
	local t0 t1 rc status secs
	sync
	t0=$(now)
	timeout "$cap" "$@" >"$work/last" 2>"$work/err"
	rc=$?
	t1=$(now)
	secs=$(echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}')
	if [ "$rc" -eq 124 ]; then
		status="did not finish (cap $cap s)"
		secs=null
	elif [ "$rc" -ne 0 ]; then
		status="failed (exit $rc): $(tail -c 200 "$work/err" | tr '\n"\\' '   ')"
	else
		status=ok
	fi
	local bytes
	bytes=$(wc -c <"$work/last")
	echo "{\"op\":\"$op\",\"impl\":\"$impl\",\"entries\":$n,\"seconds\":$secs,\"status\":\"$status\",\"output_bytes\":$bytes}" | tee -a "$out"
	return 0
}
kentries() { "$ctl" stats entries; }
# watch_blocked FILE: in the background (pid in $watcher), polls the kernel
# every 0.5 s and writes to FILE the seconds from now until it holds all $n
# entries: when the addresses are dropped, before the command that loads
# them has finished.
watch_blocked() {
	local t0 f=$1
	rm -f "$f"
	t0=$(now)
	(
		while :; do
			e=$(kentries 2>/dev/null || echo 0)
			if [ "${e:-0}" -ge "$n" ]; then
				echo "$t0 $(now)" | awk '{printf "%.1f", $2 - $1}' >"$f"
				exit 0
			fi
			sleep 0.5
		done
	) &
	watcher=$!
}
# warm COMMAND...: runs it once, untimed, its output and status dropped.
warm() { "$@" >/dev/null 2>&1 || true; }
head -n 1 "$work/addrs" >"$work/one"

# ---- 1. ffwall: listing the database an import of the N leaves ----
if want list && [ -n "${FFWALL_DATA_DISK:-}" ]; then
	mkdir -p /mnt/bulkdb
	mount -t ext4 "$FFWALL_DATA_DISK" /mnt/bulkdb
	insmod "$FFWALL_KO" max_entries=$((n + 1024))
	warm node bin/run.js list --json --limit 1 --transport direct --db /mnt/bulkdb
	# First, the database as the disk image brings it: no page of it in the
	# page cache yet (the first listing after a boot).  Then the database in
	# the page cache, as an import or a running daemon leaves it, the like of
	# the sets ipset and nft list from kernel memory: the rows the targets judge.
	step list "ffwall list --json, cold page cache" "$CAP" node bin/run.js list --json --transport direct --db /mnt/bulkdb
	grep -c '"target"' "$work/last" | awk '{printf "{\"check\":\"ffwall list --json rows (cold)\",\"rows\":%d}\n", $1}' | tee -a "$out"
	warm cat /mnt/bulkdb/data.mdb
	step list "ffwall list --json" "$CAP" node bin/run.js list --json --transport direct --db /mnt/bulkdb
	grep -c '"target"' "$work/last" | awk '{printf "{\"check\":\"ffwall list --json rows\",\"rows\":%d}\n", $1}' | tee -a "$out"
	# A source and tag no record has: the export's own code, no rows.
	warm node bin/run.js export --format plain --source feed --tag bench-warm-up --transport direct --db /mnt/bulkdb
	# The same, timed: what every export pays before its first row (Node, the
	# CLI, lmdb-js, opening the database), not a row the targets judge.
	step list "ffwall export of no ban (the CLI's fixed cost)" "$CAP" node bin/run.js export --format plain --source feed --tag bench-warm-up --transport direct --db /mnt/bulkdb
	step list "ffwall export (plain)" "$CAP" node bin/run.js export --format plain --transport direct --db /mnt/bulkdb
	echo "{\"check\":\"ffwall export lines\",\"lines\":$(wc -l <"$work/last")}" | tee -a "$out"
	# The same two walks by one thread (--threads 1; the ones above take a
	# thread per core, up to 4, from 200,000 bans): what the threads save.
	step list "ffwall export (plain), one thread" "$CAP" node bin/run.js export --format plain --transport direct --db /mnt/bulkdb --threads 1
	step list "ffwall list --json, one thread" "$CAP" node bin/run.js list --json --transport direct --db /mnt/bulkdb --threads 1
	rmmod ffwall
	umount /mnt/bulkdb
fi

# ---- 2. ffwall: the kernel alone ----
if want kernel; then
insmod "$FFWALL_KO" max_entries=$((n + 1024))
warm "$ctl" add-seq 1.0.0.0 1 1
warm node dist/bench/bulk-guest.js --file "$work/one" --no-db
rmmod ffwall
insmod "$FFWALL_KO" max_entries=$((n + 1024))
step load "ffwallctl add-seq (C, kernel only)" "$CAP" "$ctl" add-seq 1.0.0.0 "$n" 65536
echo "{\"check\":\"kernel entries after ffwallctl add-seq\",\"entries\":$(kentries)}" | tee -a "$out"
rmmod ffwall
# The same after one RESERVE of n (what the library sends before a bulk ADD).
insmod "$FFWALL_KO" max_entries=$((n + 1024))
step load "ffwallctl add-seq after RESERVE (C, kernel only)" "$CAP" "$ctl" add-seq 1.0.0.0 "$n" 65536 reserve
echo "{\"check\":\"kernel entries and resizes after RESERVE and add-seq\",\"entries\":$(kentries),\"resizes\":$("$ctl" stats resizes)}" | tee -a "$out"
rmmod ffwall
insmod "$FFWALL_KO" max_entries=$((n + 1024))
step load "ffwall library, database false (kernel only)" "$CAP" node dist/bench/bulk-guest.js --file "$work/addrs" --no-db
echo "{\"check\":\"library, kernel only\",\"report\":$(cat "$work/last" 2>/dev/null | grep '^{' || echo null),\"kernel_entries\":$(kentries)}" | tee -a "$out"
# The module's own table, as ipset save and nft list set list theirs (not the
# database: the listing target judges list --json and export above).
warm node bin/run.js list --kernel --json --limit 1 --transport direct --db "$work/db-none"
step list "ffwall list --kernel --json (the module's table)" "$CAP" node bin/run.js list --kernel --json --transport direct --db "$work/db-none"
grep -c '"target"' "$work/last" | awk '{printf "{\"check\":\"ffwall list --kernel --json rows\",\"rows\":%d}\n", $1}' | tee -a "$out"
rmmod ffwall
rm -rf "$work/db-none"
fi

# ---- 3. ipset ----
if want ipset; then
{
	echo "create bulk hash:ip family inet hashsize 1048576 maxelem $((n + 1024))"
	sed 's/^/add bulk /' "$work/addrs"
} >"$work/ipset.restore"
printf 'create bulkwarm hash:ip family inet\nadd bulkwarm %s\n' "$(cat "$work/one")" >"$work/warm.restore"
warm ipset restore -file "$work/warm.restore"
warm ipset save bulkwarm
ipset destroy bulkwarm 2>/dev/null
step load "ipset restore" "$CAP" ipset restore -file "$work/ipset.restore"
step list "ipset save" "$CAP" ipset save bulk
ipset destroy bulk 2>/dev/null
rm -f "$work/ipset.restore"
fi

# ---- 4. nftables ----
if want nft; then
{
	echo "table inet bulk {"
	echo "  set ban { type ipv4_addr; size $((n + 1024)); }"
	echo "}"
	split -l 50000 "$work/addrs" "$work/chunk."
	for f in "$work"/chunk.*; do
		printf 'add element inet bulk ban { '
		paste -sd, "$f" | tr -d '\n'
		printf ' }\n'
	done
	rm -f "$work"/chunk.*
} >"$work/bulk.nft"
printf 'table inet bulkwarm {\n  set ban { type ipv4_addr; }\n}\nadd element inet bulkwarm ban { %s }\n' "$(cat "$work/one")" >"$work/warm.nft"
warm nft -f "$work/warm.nft"
warm nft list set inet bulkwarm ban
nft delete table inet bulkwarm 2>/dev/null
step load "nft -f" "$NFT_CAP" nft -f "$work/bulk.nft"
if nft list table inet bulk >/dev/null 2>&1; then
	step list "nft list set" "$CAP" nft list set inet bulk ban
	nft delete table inet bulk 2>/dev/null
else
	echo "{\"op\":\"list\",\"impl\":\"nft list set\",\"entries\":$n,\"seconds\":null,\"status\":\"not run (the load did not finish)\"}" | tee -a "$out"
fi
rm -f "$work/bulk.nft"
fi

# ---- 5. ffwall durable: the CLI import, through the daemon, then the library ----
if want durable || want daemon; then
if want durable; then
insmod "$FFWALL_KO" max_entries=$((n + 1024))
warm node bin/run.js import "$work/one" --name bulk --ttl 30d --transport direct --db "$work/db-warm"
warm node dist/bench/bulk-guest.js --file "$work/one" --db "$work/db-warm2"
rmmod ffwall
rm -rf "$work/db-warm" "$work/db-warm2"
insmod "$FFWALL_KO" max_entries=$((n + 1024))
sync
watch_blocked "$work/blocked"
step load "ffwall import (CLI)" "$CAP" node bin/run.js import "$work/addrs" --name bulk --ttl 30d --transport direct --db "$work/db-cli"
kill "$watcher" 2>/dev/null
wait "$watcher" 2>/dev/null
echo "{\"check\":\"kernel entries after the CLI import\",\"entries\":$(kentries)}" | tee -a "$out"
echo "{\"check\":\"the CLI import: all in the kernel (dropped) after\",\"seconds\":$(cat "$work/blocked" 2>/dev/null || echo null)}" | tee -a "$out"
rmmod ffwall
rm -rf "$work/db-cli"
fi
# The same import through a running daemon (--transport client): the client
# uploads the packed feed over the socket (op blockFeed), the daemon checks
# its safety rules and loads the kernel before it writes the records.  The
# addresses span 1.0.0.0-255.255.255.255, 127/8 and 169.254/16 included:
# those two safety rules are off, the others (host addresses, gateways,
# resolvers, SSH sessions) run as they do in service.
insmod "$FFWALL_KO" max_entries=$((n + 1024))
printf '{ "database": { "path": "%s" }, "socket": { "path": "%s" }, "safety": { "loopback": false, "linkLocal": false }, "log": { "level": "warn" } }\n' \
	"$work/db-daemon" "$work/ffwall.sock" >"$work/daemon.jsonc"
node bin/run.js daemon --config "$work/daemon.jsonc" >"$work/daemon.log" 2>&1 &
daemon=$!
for _ in $(seq 1 600); do [ -S "$work/ffwall.sock" ] && break; sleep 0.2; done
warm node bin/run.js import "$work/one" --name bulk --ttl 30d --transport client --socket "$work/ffwall.sock"
sync
watch_blocked "$work/blocked"
step load "ffwall import through the daemon (CLI, socket)" "$CAP" node bin/run.js import "$work/addrs" --name bulk --ttl 30d --transport client --socket "$work/ffwall.sock"
kill "$watcher" 2>/dev/null
wait "$watcher" 2>/dev/null
echo "{\"check\":\"the import through the daemon\",\"output\":\"$(tr -d '\n"\\' <"$work/last" | tail -c 200)\",\"kernel_entries\":$(kentries)}" | tee -a "$out"
echo "{\"check\":\"the import through the daemon: all in the kernel (dropped) after\",\"seconds\":$(cat "$work/blocked" 2>/dev/null || echo null)}" | tee -a "$out"
kill -TERM "$daemon" 2>/dev/null
wait "$daemon" 2>/dev/null
rmmod ffwall
rm -rf "$work/db-daemon"
if want durable; then
insmod "$FFWALL_KO" max_entries=$((n + 1024))
step load "ffwall library (blockMany 10k)" "$CAP" node dist/bench/bulk-guest.js --file "$work/addrs" --db "$work/db-lib" --progress "$work/progress"
echo "{\"check\":\"library\",\"report\":$(grep '^{' "$work/last" || echo null),\"progress\":$(cat "$work/progress" 2>/dev/null || echo null),\"kernel_entries\":$(kentries)}" | tee -a "$out"
rmmod ffwall
fi
fi

rm -rf "$work"
