#!/bin/bash
# SPDX-License-Identifier: MIT
# The IPv4 summary of the prefix sets (kmod/DESIGN-prefix.md) never changes
# a verdict: a /27 inside the peer's /24 drops it among prefixes elsewhere;
# after a DEL the stale summary bit lets the traffic pass and a new prefix
# in the same /24 drops again; the same for the /16 group; an allowlisted
# /32 inside a banned /24 passes, also after thousands of allowlist entries
# were added and deleted (which rebuilds the allowlist's summary).  The
# probe counts themselves are checked by the DEBUG selftests at load.
source "$FFWALL_ROOT/test/guest/lib.sh"
ctl="$FFWALL_TOOLS/ffwallctl"
plan 20
trap peer_teardown EXIT

peer_setup
ok $? "peer namespace and veth pair set up"
run_ok "ffwall.ko loads, attached to $FFW_DEV" -- load_ffwall devices="$FFW_DEV"

# /24../32 group: a /27 holding the peer, among other lengths elsewhere.
"$ctl" add 10.99.0.0/27 >/dev/null && "$ctl" add 10.1.2.0/24 >/dev/null &&
	"$ctl" add 10.50.0.0/20 >/dev/null && "$ctl" add 10.99.0.128/25 >/dev/null
ok $? "ADD 10.99.0.0/27, 10.99.0.128/25, 10.1.2.0/24, 10.50.0.0/20"
dropped "the /27 drops the peer" -- tcp "$FFW_LOCAL4" 80
run_ok "DEL 10.99.0.0/27" -- "$ctl" del 10.99.0.0/27
passes "after the DEL the peer passes (stale summary bit, right answer)" -- tcp "$FFW_LOCAL4" 80
run_ok "ADD 10.99.0.0/26 in the same /24" -- "$ctl" add 10.99.0.0/26
dropped "the new prefix in that /24 drops the peer" -- tcp "$FFW_LOCAL4" 80
is "$("$ctl" lookup "$FFW_PEER4" prefix_len)" 122 "LOOKUP finds the /26 (prefix_len 122)"
"$ctl" flush >/dev/null

# /16../23 group.
"$ctl" add 10.99.0.0/16 >/dev/null && "$ctl" add 10.60.0.0/18 >/dev/null
ok $? "ADD 10.99.0.0/16 and 10.60.0.0/18"
dropped "the /16 drops the peer" -- tcp "$FFW_LOCAL4" 80
"$ctl" del 10.99.0.0/16 >/dev/null
passes "after its DEL the peer passes" -- tcp "$FFW_LOCAL4" 80
"$ctl" add 10.99.0.0/23 >/dev/null
dropped "a /23 in the same /16 drops the peer" -- tcp "$FFW_LOCAL4" 80
"$ctl" flush >/dev/null

# The allowlist's /32 inside a banned /24, before and after a rebuild.
"$ctl" add 10.99.0.0/24 >/dev/null && "$ctl" allow add "$FFW_PEER4B" >/dev/null
ok $? "ADD 10.99.0.0/24, ALLOW_ADD $FFW_PEER4B"
passes "the allowlisted /32 passes" -- -s "$FFW_PEER4B" tcp "$FFW_LOCAL4" 80
mapfile -t many < <(for i in $(seq 0 4999); do echo "172.$((20 + i / 256)).$((i % 256)).0/24"; done)
"$ctl" allow add "${many[@]}" && "$ctl" allow del "${many[@]}"
ok $? "5000 allowlist /24s added and deleted (past the rebuild threshold)"
is "$("$ctl" stats allow_entries)" 1 "the allowlist holds its /32 again"
passes "the allowlisted /32 still passes" -- -s "$FFW_PEER4B" tcp "$FFW_LOCAL4" 80
dropped "the rest of the /24 still drops" -- tcp "$FFW_LOCAL4" 80

run_ok "unload" -- unload_ffwall
done_testing
