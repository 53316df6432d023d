#!/bin/bash
# SPDX-License-Identifier: MIT
#
# What `npm start` runs inside its throwaway guest: load ffwall.ko, report
# its version through the CLI, then a short self-check with real traffic: a
# peer network namespace pings this host over a veth pair, ffwall blocks the
# peer, the pings are dropped at ingress, ffwall unblocks it, they pass again.
# Until the CLI's block/unblock commands land, the self-check drives the
# module with the project's test tool, ffwallctl.
set -eu
cd "$FFWALL_ROOT"
source test/guest/lib.sh
ctl=$FFWALL_TOOLS/ffwallctl
say() { echo "ffwall-demo: $*"; }
probe() {
	if reach -t 700 ping "$FFW_LOCAL4"; then echo "answered"; else echo "no answer (dropped)"; fi
}

say "guest kernel $(uname -r)"
insmod "$FFWALL_KO"
say "loaded ffwall.ko; /dev/ffwall is $(stat -c '%A' /dev/ffwall)"
node bin/run.js module version
peer_setup
"$ctl" attach "$FFW_DEV"
say "hooked $FFW_DEV, the host's side of a veth pair to a peer namespace at $FFW_PEER4"
say "ping from the peer: $(probe)"
"$ctl" add "$FFW_PEER4" >/dev/null
say "blocked $FFW_PEER4; LOOKUP verdict: $("$ctl" lookup "$FFW_PEER4" verdict)"
say "ping from the peer: $(probe)"
say "dropped so far: $("$ctl" stats dropped_exact) packet(s)"
"$ctl" del "$FFW_PEER4" >/dev/null
say "unblocked $FFW_PEER4"
say "ping from the peer: $(probe)"
peer_teardown
rmmod ffwall
say "unloaded ffwall.ko cleanly"
