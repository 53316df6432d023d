#!/bin/bash
# SPDX-License-Identifier: MIT
# Prefixes, the allowlist and monitor mode with real traffic from a peer
# namespace (IPv4 and IPv6): a prefix drops its range and an allowlisted
# address inside it passes (LOOKUP says ALLOW); the most specific ban decides
# with its ports (a port-scoped /24 inside a whole-address /16 drops only its
# ports, no fall-through to the /16); monitor counts and passes, globally and
# per entry, for exact and prefix entries; an ADD inside the allowlist is
# refused with EEXIST and nothing changes, an overlapping prefix is accepted;
# FLUSH by scope and by flags; a prefix with a TTL is reclaimed.
source "$FFWALL_ROOT/test/guest/lib.sh"
ctl="$FFWALL_TOOLS/ffwallctl"
plan 47
trap peer_teardown EXIT

# Static IPv6 neighbours: with the whole /64 banned, neighbour discovery
# from a banned peer address would be dropped and could stall the allowed one.
neigh_setup() {
	local mac_local mac_peer
	mac_local=$(cat /sys/class/net/"$FFW_DEV"/address) &&
	mac_peer=$(ip netns exec peer cat /sys/class/net/eth0/address) &&
	ip -n peer -6 neigh replace "$FFW_LOCAL6" lladdr "$mac_local" dev eth0 nud permanent &&
	ip -6 neigh replace "$FFW_PEER6" lladdr "$mac_peer" dev "$FFW_DEV" nud permanent &&
	ip -6 neigh replace "$FFW_PEER6B" lladdr "$mac_peer" dev "$FFW_DEV" nud permanent
}
peer_setup && neigh_setup
ok $? "peer namespace and veth pair set up, static IPv6 neighbours"
run_ok "ffwall.ko loads, attached to $FFW_DEV" -- load_ffwall devices="$FFW_DEV" gc_interval=1
"$ctl" version | grep -q '^features ' && f=$(("$("$ctl" version | awk '/^features/ {print $2}')"))
[ $((f & (1 << 9))) -ne 0 ] && [ $((f & (1 << 10))) -ne 0 ]
ok $? "VERSION sets FEAT_PREFIX and FEAT_ALLOW"

# A prefix drops its range; the allowlist wins inside it.
run_ok "ADD 10.99.0.0/24" -- "$ctl" add 10.99.0.0/24
run_ok "ADD fd99::/64" -- "$ctl" add fd99::/64
is "$("$ctl" stats prefixes)" 2 "STATS counts 2 prefixes"
dropped "IPv4 from inside the /24 is dropped" -- ping "$FFW_LOCAL4"
dropped "IPv4 from the other address of the /24 is dropped" -- -s "$FFW_PEER4B" tcp "$FFW_LOCAL4" 80
dropped "IPv6 from inside the /64 is dropped" -- -s "$FFW_PEER6" tcp "$FFW_LOCAL6" 80
[ "$("$ctl" stats dropped_prefix)" -gt 0 ]
ok $? "STATS counts dropped_prefix"
is "$("$ctl" lookup "$FFW_PEER4" match)" prefix "LOOKUP inside the /24 says PREFIX"
is "$("$ctl" lookup "$FFW_PEER4" prefix_len)" 120 "LOOKUP returns the /24 (prefix_len 120)"
run_ok "ALLOW_ADD of $FFW_PEER4B and $FFW_PEER6B" -- "$ctl" allow add "$FFW_PEER4B" "$FFW_PEER6B"
passes "the allowlisted IPv4 address passes" -- -s "$FFW_PEER4B" tcp "$FFW_LOCAL4" 80
passes "the allowlisted IPv6 address passes" -- -s "$FFW_PEER6B" tcp "$FFW_LOCAL6" 80
dropped "the rest of the /24 is still dropped" -- tcp "$FFW_LOCAL4" 80
dropped "the rest of the /64 is still dropped" -- -s "$FFW_PEER6" tcp "$FFW_LOCAL6" 80
[ "$("$ctl" stats passed_allow)" -gt 0 ]
ok $? "STATS counts passed_allow"
is "$("$ctl" lookup "$FFW_PEER4B" verdict)/$("$ctl" lookup "$FFW_PEER4B" match)" pass/allow \
	"LOOKUP of the allowlisted address: verdict pass, match ALLOW"

# EEXIST: an ADD wholly inside the allowlist; overlaps are accepted.
before=$("$ctl" stats entries)/$("$ctl" stats prefixes)
err=$("$ctl" add "$FFW_PEER4B" 2>&1)
[ $? -ne 0 ] && echo "$err" | grep -q 'errno 17' && echo "$err" | grep -q 'bad_index 0'
ok $? "ADD of an allowlisted address fails with EEXIST, bad_index 0"
"$ctl" allow add 10.99.1.0/24 >/dev/null
"$ctl" add 10.99.1.128/25 2>/dev/null
[ $? -ne 0 ]
ok $? "ADD of a /25 inside an allowlisted /24 is refused"
is "$("$ctl" stats entries)/$("$ctl" stats prefixes)" "$before" "the refused ADDs changed nothing"
run_ok "ADD of a /23 that only overlaps the allowlisted /24 is accepted" -- "$ctl" add 10.99.0.0/23
is "$("$ctl" lookup 10.99.1.5 match)" allow "the allowlist still wins inside the /23"
is "$("$ctl" lookup 10.99.0.200 match)/$("$ctl" lookup 10.99.0.200 prefix_len)" prefix/120 \
	"the longest prefix (/24 inside the /23) answers for 10.99.0.200"
"$ctl" flush >/dev/null

# The most specific ban decides, with its ports.
"$ctl" add 10.99.0.0/16 >/dev/null && "$ctl" add 10.99.0.0/24 ports=25 >/dev/null
dropped "the port-scoped /24 drops its port 25" -- tcp "$FFW_LOCAL4" 25
passes "the /24 passes port 80: no fall-through to the whole-address /16" -- tcp "$FFW_LOCAL4" 80
is "$("$ctl" lookup "$FFW_PEER4" verdict)" ports "LOOKUP: the /24 decides (verdict ports)"
"$ctl" add "$FFW_PEER4" >/dev/null
dropped "an exact entry shadows both prefixes: port 80 dropped" -- tcp "$FFW_LOCAL4" 80
"$ctl" flush >/dev/null

# Monitor: globally, then per entry, for prefix and exact entries.
"$ctl" add 10.99.0.0/24 >/dev/null
m0=$("$ctl" stats monitor_hits)
run_ok "SET_CONFIG mode=monitor" -- "$ctl" set mode=monitor
passes "global monitor: the prefix's traffic passes" -- tcp "$FFW_LOCAL4" 80
[ "$("$ctl" stats monitor_hits)" -gt "$m0" ]
ok $? "global monitor counts monitor_hits"
is "$("$ctl" lookup "$FFW_PEER4" verdict)" monitor "LOOKUP's verdict is monitor"
"$ctl" set mode=enforce
dropped "back in enforce mode the prefix drops" -- tcp "$FFW_LOCAL4" 80
"$ctl" add 10.99.0.0/24 monitor >/dev/null
m0=$("$ctl" stats monitor_hits)
passes "a monitor prefix passes its traffic" -- tcp "$FFW_LOCAL4" 80
[ "$("$ctl" stats monitor_hits)" -gt "$m0" ] && [ "$("$ctl" lookup "$FFW_PEER4" hits)" -gt 0 ]
ok $? "the monitor prefix counts monitor_hits and records its hits"
"$ctl" flush >/dev/null
"$ctl" add "$FFW_PEER6" monitor >/dev/null
m0=$("$ctl" stats monitor_hits)
passes "a monitor exact entry passes its traffic" -- -s "$FFW_PEER6" tcp "$FFW_LOCAL6" 80
[ "$("$ctl" stats monitor_hits)" -gt "$m0" ]
ok $? "the monitor exact entry counts monitor_hits"
"$ctl" flush >/dev/null

# FLUSH by scope and by flags.
"$ctl" add 10.99.5.1 >/dev/null && "$ctl" add 10.99.5.2 monitor >/dev/null
"$ctl" add 10.98.0.0/16 >/dev/null && "$ctl" add 10.97.0.0/16 monitor >/dev/null &&
	"$ctl" add 2001:db8::/32 monitor >/dev/null
"$ctl" allow add 10.96.0.1 10.96.0.0/24 >/dev/null
is "$("$ctl" dump | awk '{print $NF}' | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')" \
	"kind=allow=2 kind=exact=2 kind=prefix=3 " "DUMP returns every phase: 2 exact, 3 prefixes, 2 allowlist"
is "$("$ctl" flush prefix monitor)" 2 "FLUSH prefix monitor removes the 2 monitor prefixes"
is "$("$ctl" stats prefixes)/$("$ctl" stats entries)" 1/2 "the other prefix and the exact entries stay"
is "$("$ctl" flush allow monitor)" 0 "FLUSH allow with flags removes nothing (no flags there)"
is "$("$ctl" flush exact)" 2 "FLUSH exact removes the 2 exact entries"
is "$("$ctl" flush allow)/$("$ctl" stats allow_entries)/$("$ctl" stats prefixes)" 2/0/1 \
	"FLUSH allow empties the allowlist and leaves the prefix"

# A prefix with a TTL is reclaimed by the expiry worker.
"$ctl" flush >/dev/null
"$ctl" add 10.99.0.0/24 ttl=1 >/dev/null
sleep 3.5
is "$("$ctl" stats prefixes)" 0 "an expired prefix is reclaimed"
passes "and its range passes again" -- tcp "$FFW_LOCAL4" 80

run_ok "unload" -- unload_ffwall
done_testing
