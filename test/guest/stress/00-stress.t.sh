#!/bin/bash
# SPDX-License-Identifier: MIT
# The randomized stress: several processes issue random valid and invalid
# ioctls (batches, dumps, config changes, filter loads, event reads) while
# traffic from a peer namespace flows through the hooks.  Then the files are
# closed and the module unloads.  Every errno must be a documented one; the
# harness fails the suite on any WARN, BUG, Oops, KFENCE report (KFENCE is
# on under 6.12) or slab complaint at unload.  The seed is printed first:
# replay a failure with FFWALL_STRESS_SEED=<seed>.
source "$FFWALL_ROOT/test/guest/lib.sh"
ctl="$FFWALL_TOOLS/ffwallctl"
seconds=${FFWALL_STRESS_SECONDS:-45}
procs=4
seed=${FFWALL_STRESS_SEED:-$(od -An -N6 -tu8 /dev/urandom | tr -d ' ')}
plan $((procs + 7))
echo "# stress seed $seed (FFWALL_STRESS_SEED=$seed replays it)"
trap peer_teardown EXIT

if grep -q '^CONFIG_KFENCE=y' "/boot/config-$FFWALL_KVER"; then
	iv=$(cat /sys/module/kfence/parameters/sample_interval 2>/dev/null || echo 0)
	[ "$iv" -gt 0 ]
	ok $? "KFENCE is on (sample interval $iv ms)"
else
	echo "ok $((++_tap_n)) - KFENCE is on # SKIP $FFWALL_KVER is built without KFENCE"
fi
peer_setup
ok $? "peer namespace set up"
run_ok "ffwall.ko loads with a small cap, hooking $FFW_DEV" -- \
	load_ffwall max_entries=2048 gc_interval=1 devices="$FFW_DEV"
# Bans on the peer's addresses, so that traffic hits entries too.
"$ctl" add "$FFW_PEER4" ports=25 >/dev/null
ip netns exec peer "$FFWALL_TOOLS/stress" traffic "$FFW_PEER4,$FFW_PEER4B" "$FFW_LOCAL4" \
	$((seconds + 5)) 2>/dev/null &
traffic=$!
"$FFWALL_TOOLS/stress" -p $procs -t "$seconds" -s "$seed" | grep -v '^1\.\.'
wait "$traffic"
ok $? "the traffic generator ran to its end"
seen=$("$ctl" stats packets_seen)
[ "$seen" -gt 1000 ]
ok $? "the hooks saw traffic throughout ($seen packets)"
run_ok "every file is closed: rmmod is clean" -- rmmod ffwall
run_fails "the module is gone" -- test -e /sys/module/ffwall
done_testing
