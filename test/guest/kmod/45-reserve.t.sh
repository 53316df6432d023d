#!/bin/bash
# SPDX-License-Identifier: MIT
# RESERVE before a bulk load: the hash is grown once, to the size the load
# needs, and the load then adds its entries without a resize; the table
# holds and blocks them as without it.  (The ioctl's arguments and errors
# are abi-test's.)
source "$FFWALL_ROOT/test/guest/lib.sh"
ctl="$FFWALL_TOOLS/ffwallctl"
plan 9
N=262144

run_ok "ffwall.ko loads" -- load_ffwall
is "$("$ctl" stats resizes)" 0 "no resize yet"
is "$("$ctl" reserve $N)" $N "RESERVE of 262144 answers 262144 buckets"
is "$("$ctl" stats resizes)" 1 "in one resize"
run_ok "ADD of 262144 addresses in batches of 65536" -- "$ctl" add-seq 10.0.0.0 $N
is "$("$ctl" stats entries)" $N "the table holds them"
is "$("$ctl" stats resizes)" 1 "without another resize"
is "$("$ctl" lookup 10.3.255.255 verdict)" drop "the last one is in the table"
run_ok "rmmod" -- rmmod ffwall
done_testing
