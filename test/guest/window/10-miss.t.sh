#!/bin/bash
# SPDX-License-Identifier: MIT
# The membership filter brings evicted bans back: a ban evicted from a tiny
# table still sits in the filter, so a SYN from it raises a MISS event that
# names it (and passes: a filter hit never drops by itself).  An address
# outside the filter raises nothing, and a FILTER_ADD after the load counts.
source "$FFWALL_ROOT/test/guest/lib.sh"
ctl="$FFWALL_TOOLS/ffwallctl"
ev="$FFWALL_TOOLS/ffwall-events"
flt="$FFWALL_TOOLS/ffwall-filter"
tmp=$(mktemp -d)
plan 12
trap 'peer_teardown; rm -rf "$tmp"' EXIT

reader() {
	"$ev" watch-at "$tmp/$1.ready" "$tmp/$1.go" "$2" "${3:-1500}" >"$tmp/$1.out" &
	while [ ! -e "$tmp/$1.ready" ]; do sleep 0.05; done
}
release() { touch "$tmp/$1.go"; wait; }

peer_setup
ok $? "peer namespace set up"
run_ok "ffwall.ko loads with a cap of 1, hooking $FFW_DEV" -- load_ffwall max_entries=1 devices="$FFW_DEV"
printf '%s\n10.77.0.1\n' "$FFW_PEER4" | "$flt" load -p 0.001 >/dev/null
ok $? "a filter holding the peer's first address is loaded"
run_ok "the peer's first address is banned" -- "$ctl" add "$FFW_PEER4"
dropped "while in the table, its SYN is dropped" -- -s "$FFW_PEER4" tcp "$FFW_LOCAL4" 25
run_ok "another ban evicts it" -- "$ctl" add 10.77.0.1
is "$("$ctl" lookup "$FFW_PEER4" verdict)" pass "the evicted ban is out of the table"

reader miss 10
passes "its SYN now passes (a filter hit never drops)" -- -s "$FFW_PEER4" tcp "$FFW_LOCAL4" 25
passes "a SYN from the peer's second address, not in the filter, passes" -- -s "$FFW_PEER4B" tcp "$FFW_LOCAL4" 25
release miss
is "$(grep '^MISS ' "$tmp/miss.out" | awk '{print $2}' | tr '\n' ' ')" "$FFW_PEER4/32 " \
	"exactly one MISS event, naming the evicted address; none for the other"

echo "$FFW_PEER4B" | "$flt" add >/dev/null
reader added 10
reach -s "$FFW_PEER4B" tcp "$FFW_LOCAL4" 25
release added
is "$(grep '^MISS ' "$tmp/added.out" | awk '{print $2}')" "$FFW_PEER4B/32" \
	"after FILTER_ADD, a SYN from the added address raises MISS"
[ "$("$ctl" stats filter_hits)" -ge 2 ]
ok $? "STATS counts the filter hits"
done_testing
