#!/bin/bash
# SPDX-License-Identifier: MIT
# Eviction under a small cap: the table never exceeds max_entries, evictions
# are counted, a pinned entry survives and keeps blocking, a table full of
# pinned entries refuses with ENOSPC, and lowering the cap evicts down to it.
source "$FFWALL_ROOT/test/guest/lib.sh"
ctl="$FFWALL_TOOLS/ffwallctl"
plan 15
trap peer_teardown EXIT

peer_setup
run_ok "ffwall.ko loads, hooking $FFW_DEV" -- load_ffwall devices="$FFW_DEV"
run_ok "SET_CONFIG max_entries=100" -- "$ctl" set max_entries=100
run_ok "ADD of 150 addresses into a cap of 100" -- "$ctl" add-seq 10.200.0.0 150
is "$("$ctl" stats entries)" 100 "the table holds max_entries entries"
is "$("$ctl" stats evicted)" 50 "50 evictions are counted"
run_ok "ADD of a pinned entry for the peer" -- "$ctl" add "$FFW_PEER4" pinned
run_ok "300 more addresses" -- "$ctl" add-seq 10.201.0.0 300
is "$("$ctl" lookup "$FFW_PEER4" verdict)" drop "the pinned entry survived the evictions"
dropped "and it still blocks" -- ping "$FFW_LOCAL4"
is "$("$ctl" dump count)" 100 "DUMP returns max_entries entries"
run_ok "lowering the cap to 2 evicts down to it" -- "$ctl" set max_entries=2
is "$("$ctl" stats entries)" 2 "2 entries left"
"$ctl" add 10.202.0.1 pinned
run_fails "ADD into a table full of pinned entries fails (ENOSPC)" -- "$ctl" add 10.202.0.2
is "$("$ctl" lookup 10.202.0.2 verdict)" pass "and nothing was added"
run_fails "a cap below the pinned count is refused" -- "$ctl" set max_entries=1
done_testing
