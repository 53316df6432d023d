#!/bin/bash
# SPDX-License-Identifier: MIT
# The kernel window's events, from the real table: every eviction and every
# expiry (of an address or a prefix) arrives as an event naming it, and a deliberately slow
# reader gets an OVERFLOW with the exact count of the records it lost.
source "$FFWALL_ROOT/test/guest/lib.sh"
ctl="$FFWALL_TOOLS/ffwallctl"
ev="$FFWALL_TOOLS/ffwall-events"
tmp=$(mktemp -d)
plan 15

# reader NAME N [MS]: a reader open before the events, reading (up to N
# records, until MS ms pass without one) only once $tmp/NAME.go appears.
reader() {
	"$ev" watch-at "$tmp/$1.ready" "$tmp/$1.go" "$2" "${3:-1500}" >"$tmp/$1.out" &
	while [ ! -e "$tmp/$1.ready" ]; do sleep 0.05; done
}
release() { touch "$tmp/$1.go"; wait; }

run_ok "ffwall.ko loads with a cap of 4 and a ring of 16 records" -- \
	load_ffwall max_entries=4 gc_interval=1 event_ring_size=16

# Evictions: 10 addresses into a table of 4.
reader evict 100
"$ctl" add-seq 10.50.0.1 10 >/dev/null
release evict
is "$(grep -c '^EVICTED ' "$tmp/evict.out")" 6 "6 additions past the cap raise 6 EVICTED events"
is "$("$ctl" stats evicted)" 6 "STATS counts the same 6 evictions"
# Each evicted address is gone from the table; the 4 survivors are not named.
gone=0
for a in $(awk '/^EVICTED / {sub("/.*", "", $2); print $2}' "$tmp/evict.out"); do
	[ "$("$ctl" lookup "$a" verdict)" = pass ] && gone=$((gone + 1))
done
is "$gone" 6 "every EVICTED event names an address that left the table"
is "$(awk '/^EVICTED / {print $2}' "$tmp/evict.out" | sort -u | wc -l)" 6 "no address is reported twice"
"$ctl" flush >/dev/null

# Expiry: 3 entries with a 1-second TTL, reclaimed by the worker.
reader expire 3 6000
"$ctl" add 10.60.0.1 ttl=1 >/dev/null && "$ctl" add 10.60.0.2 ttl=1 >/dev/null &&
	"$ctl" add 10.60.0.3 ttl=1 >/dev/null
release expire
is "$(grep -c '^EXPIRED ' "$tmp/expire.out")" 3 "3 expired entries raise 3 EXPIRED events"
is "$(awk '/^EXPIRED / {print $2}' "$tmp/expire.out" | sort | tr '\n' ' ')" \
	"10.60.0.1/32 10.60.0.2/32 10.60.0.3/32 " "the EXPIRED events name the expired addresses"
is "$("$ctl" stats entries)" 0 "the reclaimer emptied the table"

# A ban prefix expires too, and its event carries the prefix length.
reader expire-pfx 1 6000
"$ctl" add 10.61.0.0/24 ttl=1 >/dev/null
release expire-pfx
is "$(awk '/^EXPIRED / {print $2}' "$tmp/expire-pfx.out")" "10.61.0.0/24" \
	"an expired prefix raises EXPIRED naming the prefix"

# A slow reader: 100 evictions while it does not read; its ring holds 16.
"$ctl" add-seq 10.70.0.1 4 >/dev/null
reader slow 1000
"$ctl" add-seq 10.71.0.1 100 >/dev/null
release slow
is "$(grep -c '^EVICTED ' "$tmp/slow.out")" 16 "the slow reader gets the 16 records its ring held"
is "$(grep '^OVERFLOW ' "$tmp/slow.out" | sed 's/.*value=\([0-9]*\).*/\1/')" 84 \
	"then one OVERFLOW announcing the 84 it lost"
[ "$(tail -n 1 "$tmp/slow.out" | cut -d' ' -f1)" = OVERFLOW ]
ok $? "the OVERFLOW comes after the records that were kept"
[ "$("$ctl" stats events_lost)" -ge 84 ]
ok $? "STATS events_lost counts the lost records"

out=$(setpriv --bounding-set=-net_admin --inh-caps=-net_admin -- "$ev" watch 1 100 2>&1)
[ $? -ne 0 ] && [[ "$out" == *"Operation not permitted"* ]]
ok $? "reading events without CAP_NET_ADMIN fails with EPERM"

run_ok "rmmod is clean" -- rmmod ffwall
rm -rf "$tmp"
done_testing
