#!/bin/bash
# SPDX-License-Identifier: MIT
# One million entries: the time of the ADD and of a full DUMP, the bytes per
# entry the module reports (at most 64, bucket array included), the hash
# grown at most once per batch (the first batch reserves its room at once),
# eviction at the default cap, and a clean unload that frees them all.
source "$FFWALL_ROOT/test/guest/lib.sh"
ctl="$FFWALL_TOOLS/ffwallctl"
plan 11
N=1048576
now_ms() { echo $(($(date +%s%N) / 1000000)); }

run_ok "ffwall.ko loads" -- load_ffwall
t0=$(now_ms)
run_ok "ADD of 1M addresses in batches of 65536" -- "$ctl" add-seq 10.0.0.0 $N
t1=$(now_ms)
diag "1M-record ADD: $((t1 - t0)) ms"
is "$("$ctl" stats entries)" $N "the table holds 1M entries"
bytes=$("$ctl" stats bytes)
diag "STATS at 1M: bytes=$bytes entry_size=$("$ctl" stats entry_size)" \
	"buckets=$("$ctl" stats buckets) resizes=$("$ctl" stats resizes)" \
	"=> $((bytes * 100 / N / 100)).$((bytes * 100 / N % 100)) bytes per entry"
diag "slab: $(grep -E '^(ffwall_entry|# name)' /proc/slabinfo 2>/dev/null | tr '\n' '|')"
[ $((bytes / N)) -le 64 ] && [ $((bytes / N)) -ge 40 ]
ok $? "at most 64 bytes per entry at 1M, bucket array included"
is "$("$ctl" stats buckets)" $N "the hash has one bucket per entry, no more"
# 16 -> 65536 buckets at the first batch, then one doubling each to 2^20:
# five resizes (one per doubling from 16 buckets would be sixteen).
is "$("$ctl" stats resizes)" 5 "the hash was resized once per batch at most"
t0=$(now_ms)
is "$("$ctl" dump count)" $N "a full DUMP returns 1M entries"
t1=$(now_ms)
diag "full DUMP of 1M: $((t1 - t0)) ms"
run_ok "1000 more addresses at the default cap" -- "$ctl" add-seq 11.0.0.0 1000
is "$("$ctl" stats evicted)" 1000 "each one evicted an entry"
t0=$(now_ms)
run_ok "rmmod with 1M entries" -- rmmod ffwall
t1=$(now_ms)
diag "unload with 1M entries: $((t1 - t0)) ms"
run_fails "the module is gone" -- test -e /sys/module/ffwall
done_testing
