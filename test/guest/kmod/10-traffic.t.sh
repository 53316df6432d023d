#!/bin/bash
# SPDX-License-Identifier: MIT
# Real traffic from a peer namespace over veth, IPv4 and IPv6: nothing is
# filtered before a device is attached; a whole-address entry drops ICMP, TCP
# and UDP from its source while other sources pass; a port-scoped entry drops
# port 25 and passes port 80 and this host's own outgoing connections;
# monitor mode counts and passes; a TTL entry blocks before the expiry the
# kernel reports and passes after it; unload is clean with traffic flowing.
source "$FFWALL_ROOT/test/guest/lib.sh"
ctl="$FFWALL_TOOLS/ffwallctl"
plan 38
pingpid=
cleanup() {
	[ -n "$pingpid" ] && kill "$pingpid" 2>/dev/null
	peer_teardown
}
trap cleanup EXIT

peer_setup
ok $? "peer namespace and veth pair set up"
run_ok "ffwall.ko loads without devices=" -- load_ffwall

# Nothing is filtered before ATTACH, even with entries present.
run_ok "ADD of both peer addresses" -- "$ctl" add "$FFW_PEER4"
"$ctl" add "$FFW_PEER6"
passes "before ATTACH a blocked IPv4 source still passes" -- ping "$FFW_LOCAL4"
passes "before ATTACH a blocked IPv6 source still passes" -- -s "$FFW_PEER6" tcp "$FFW_LOCAL6" 25
is "$("$ctl" stats packets_seen)" 0 "no packet went through a hook before ATTACH"

run_ok "ATTACH $FFW_DEV" -- "$ctl" attach "$FFW_DEV"
"$ctl" devices | grep -q "^$FFW_DEV ifindex=[1-9][0-9]* named hooked$"
ok $? "LIST_DEVICES shows $FFW_DEV named and hooked"

# Whole-address entries.
dropped "ICMP from a blocked IPv4 source is dropped" -- ping "$FFW_LOCAL4"
dropped "TCP from a blocked IPv4 source is dropped" -- tcp "$FFW_LOCAL4" 80
dropped "UDP from a blocked IPv4 source is dropped" -- udp "$FFW_LOCAL4" 5353
passes "another IPv4 source passes" -- -s "$FFW_PEER4B" ping "$FFW_LOCAL4"
passes "another IPv4 source passes (TCP)" -- -s "$FFW_PEER4B" tcp "$FFW_LOCAL4" 80
dropped "ICMPv6 from a blocked IPv6 source is dropped" -- -s "$FFW_PEER6" ping "$FFW_LOCAL6"
dropped "TCP from a blocked IPv6 source is dropped" -- -s "$FFW_PEER6" tcp "$FFW_LOCAL6" 80
dropped "UDP from a blocked IPv6 source is dropped" -- -s "$FFW_PEER6" udp "$FFW_LOCAL6" 5353
passes "another IPv6 source passes" -- -s "$FFW_PEER6B" tcp "$FFW_LOCAL6" 80
[ "$("$ctl" stats dropped_exact)" -gt 0 ]
ok $? "STATS counts the drops ($("$ctl" stats dropped_exact))"
[ "$("$ctl" lookup "$FFW_PEER4" hits)" -gt 0 ]
ok $? "LOOKUP reports the entry's hits"
is "$("$ctl" lookup "$FFW_PEER4" verdict)" drop "LOOKUP's verdict for a whole-address entry is drop"

# Port-scoped entries.
run_ok "the IPv4 entry becomes port-scoped (25, 465, 587)" -- "$ctl" add "$FFW_PEER4" ports=25,465,587
"$ctl" add "$FFW_PEER6" ports=25
dropped "TCP to port 25 from the port-scoped IPv4 source is dropped" -- tcp "$FFW_LOCAL4" 25
dropped "UDP to port 587 from the port-scoped IPv4 source is dropped" -- udp "$FFW_LOCAL4" 587
passes "TCP to port 80 from the port-scoped IPv4 source passes" -- tcp "$FFW_LOCAL4" 80
passes "ICMP from the port-scoped IPv4 source passes" -- ping "$FFW_LOCAL4"
dropped "TCP to port 25 from the port-scoped IPv6 source is dropped" -- -s "$FFW_PEER6" tcp "$FFW_LOCAL6" 25
passes "TCP to port 80 from the port-scoped IPv6 source passes" -- -s "$FFW_PEER6" tcp "$FFW_LOCAL6" 80
"$FFWALL_TOOLS/netprobe" tcp "$FFW_PEER4" 25
ok $? "this host's own connection to the peer's port 25 gets its reply"
is "$("$ctl" lookup "$FFW_PEER4" port=80 verdict)" pass "LOOKUP with port 80 says pass"
[ "$("$ctl" stats dropped_ports)" -gt 0 ]
ok $? "STATS counts port-scoped drops"

# Monitor mode: counted, passed.
"$ctl" set mode=monitor
m0=$("$ctl" stats monitor_hits)
passes "in monitor mode a blocked port passes" -- tcp "$FFW_LOCAL4" 25
[ "$("$ctl" stats monitor_hits)" -gt "$m0" ]
ok $? "monitor mode counts the match"
"$ctl" set mode=enforce

# TTL: blocked while the kernel's time is below the reported expiry, then passes.
"$ctl" add "$FFW_PEER4B" ttl=4
exp=$("$ctl" lookup "$FFW_PEER4B" expires)
dropped "a TTL entry blocks before its expiry" -- -s "$FFW_PEER4B" ping "$FFW_LOCAL4"
[ "$("$ctl" stats now)" -lt "$exp" ]
ok $? "the drop happened before the kernel-reported expiry ($exp)"
for _ in $(seq 600); do
	[ "$("$ctl" lookup "$FFW_PEER4B" verdict)" = pass ] && break
	sleep 0.2
done
[ "$("$ctl" stats now)" -ge "$exp" ]
ok $? "LOOKUP reports a miss only once the kernel's time reached the expiry"
passes "the TTL entry passes after its expiry" -- -s "$FFW_PEER4B" ping "$FFW_LOCAL4"

# Clean unload with traffic flowing through the hook.
"$ctl" add "$FFW_PEER4"
ip netns exec peer ping -q -i 0.01 "$FFW_LOCAL4" >/dev/null 2>&1 &
pingpid=$!
ip netns exec peer ping -q -i 0.01 -I "$FFW_PEER4B" "$FFW_LOCAL4" >/dev/null 2>&1 &
pid2=$!
sleep 1
run_ok "rmmod with traffic flowing" -- rmmod ffwall
kill "$pid2" 2>/dev/null
passes "traffic passes once the module is gone" -- ping "$FFW_LOCAL4"
done_testing
