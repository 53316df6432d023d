# SPDX-License-Identifier: MIT
#
# TAP helpers for the guest's shell test scripts (test/guest/<suite>/*.t.sh).
# Source it, call `plan N`, then `ok`, `is`, `run_ok`, `run_fails`...  Diagnostics
# go to stderr (the console), TAP to stdout (counted by the host).
#
# Environment set by the harness: FFWALL_ROOT, FFWALL_KVER, FFWALL_KO (DEBUG
# build: selftests at load), FFWALL_KO_NODEBUG, FFWALL_TOOLS, FFWALL_OUT.

_tap_n=0
_tap_failed=0

plan() { echo "1..$1"; }

# ok COND_STATUS DESCRIPTION: pass when the status is 0.
ok() {
	local st=$1
	shift
	_tap_n=$((_tap_n + 1))
	if [ "$st" -eq 0 ]; then
		echo "ok $_tap_n - $*"
	else
		echo "not ok $_tap_n - $*"
		_tap_failed=$((_tap_failed + 1))
	fi
}

# is GOT WANT DESCRIPTION
is() {
	local got=$1 want=$2
	shift 2
	[ "$got" = "$want" ]
	ok $? "$*"
	[ "$got" = "$want" ] || diag "got '$got', want '$want'"
}

# run_ok DESCRIPTION -- CMD...: pass when CMD exits 0.
# run_fails DESCRIPTION -- CMD...: pass when CMD exits non-zero.
run_ok() { _run_expect 0 "$@"; }
run_fails() { _run_expect 1 "$@"; }

_run_expect() {
	local want_fail=$1 desc=$2
	shift 2
	[ "$1" = -- ] && shift
	local out st failed=0
	out=$("$@" 2>&1)
	st=$?
	[ $st -ne 0 ] && failed=1
	[ $failed -eq "$want_fail" ]
	ok $? "$desc"
	[ $failed -eq "$want_fail" ] || diag "'$*' exited $st: $out"
}

diag() { echo "# $*" | sed '2,$s/^/# /' >&2; }

# done_testing: exit status for the script.
done_testing() { [ "$_tap_failed" -eq 0 ]; }

# Load the module under test (DEBUG build, so its selftests run at load).
load_ffwall() { insmod "$FFWALL_KO" "$@"; }
unload_ffwall() { [ ! -e /sys/module/ffwall ] || rmmod ffwall; }

# ---- Traffic from a peer network namespace ---------------------------------
#
# peer_setup creates namespace "peer" joined to the init namespace by a veth
# pair.  The init-side end, $FFW_DEV (ffw0), is the device ffwall hooks; the
# peer has two addresses per family, so one can be blocked while the other
# shows that other sources still pass:
#   init side: 10.99.0.1/24  fd99::1/64
#   peer:      10.99.0.2, 10.99.0.3/24  fd99::2, fd99::3/64
FFW_DEV=ffw0
FFW_LOCAL4=10.99.0.1
FFW_LOCAL6=fd99::1
FFW_PEER4=10.99.0.2
FFW_PEER4B=10.99.0.3
FFW_PEER6=fd99::2
FFW_PEER6B=fd99::3

peer_setup() {
	ip netns add peer &&
	ip link add "$FFW_DEV" type veth peer name eth0 netns peer &&
	ip addr add "$FFW_LOCAL4/24" dev "$FFW_DEV" &&
	ip -6 addr add "$FFW_LOCAL6/64" dev "$FFW_DEV" nodad &&
	ip link set "$FFW_DEV" up &&
	ip -n peer link set lo up &&
	ip -n peer addr add "$FFW_PEER4/24" dev eth0 &&
	ip -n peer addr add "$FFW_PEER4B/24" dev eth0 &&
	ip -n peer -6 addr add "$FFW_PEER6/64" dev eth0 nodad &&
	ip -n peer -6 addr add "$FFW_PEER6B/64" dev eth0 nodad &&
	ip -n peer link set eth0 up
}

peer_teardown() {
	ip link del "$FFW_DEV" 2>/dev/null
	ip netns del peer 2>/dev/null
	true
}

# reach [-s SRC] [-t MS] tcp|udp ADDR PORT | ping ADDR
# Sends from the peer to the init namespace: 0 when the packet got through
# (and its answer came back), 1 when it was dropped.
reach() { ip netns exec peer "$FFWALL_TOOLS/netprobe" "$@"; }

# passes DESC -- reach-args... / dropped DESC -- reach-args...
passes() {
	local desc=$1
	shift
	[ "$1" = -- ] && shift
	reach "$@"
	ok $? "$desc"
}
dropped() {
	local desc=$1
	shift
	[ "$1" = -- ] && shift
	reach -t 700 "$@"
	[ $? -eq 1 ]
	ok $? "$desc"
}

# ---- Several peers on one bridge -------------------------------------------
#
# peers_setup N creates namespaces ffwp1..ffwpN, each joined by its own veth
# pair to the bridge $FFW_BR in the init namespace.  The bridge has the
# host's address; each peer has its own.  The init-side ends of the veths
# (named like the namespaces, ffwp1..ffwpN) are the devices ffwall hooks:
# a packet from peer i meets the netdev ingress hook of ffwpI before the
# bridge takes it.
#   init side: $FFW_BR 10.88.0.1/24
#   peer i:    10.88.0.(10+i)/24   (peer_addr i)
FFW_BR=ffwbr0
FFW_BR_LOCAL4=10.88.0.1

FFW_PEER_PREFIX=${FFW_PEER_PREFIX:-ffwp}
peer_ns() { echo "$FFW_PEER_PREFIX$1"; }
peer_addr() { echo "10.88.0.$((10 + $1))"; }

# peers_devices N: the devices to hook, space separated.
peers_devices() {
	local i
	for i in $(seq 1 "$1"); do printf '%s ' "$(peer_ns "$i")"; done
	echo
}

peers_setup() {
	local n=$1 i ns
	ip link add "$FFW_BR" type bridge &&
		ip addr add "$FFW_BR_LOCAL4/24" dev "$FFW_BR" &&
		ip link set "$FFW_BR" up || return 1
	for i in $(seq 1 "$n"); do
		ns=$(peer_ns "$i")
		ip netns add "$ns" &&
			ip link add "$ns" type veth peer name eth0 netns "$ns" &&
			ip link set "$ns" master "$FFW_BR" &&
			ip link set "$ns" up &&
			ip -n "$ns" link set lo up &&
			ip -n "$ns" addr add "$(peer_addr "$i")/24" dev eth0 &&
			ip -n "$ns" link set eth0 up || return 1
	done
}

peers_teardown() {
	local n=$1 i
	for i in $(seq 1 "$n"); do
		ip link del "$(peer_ns "$i")" 2>/dev/null
		ip netns del "$(peer_ns "$i")" 2>/dev/null
	done
	ip link del "$FFW_BR" 2>/dev/null
	true
}

# peer_reach I netprobe-args...: netprobe from peer I (see reach).
peer_reach() {
	local i=$1
	shift
	ip netns exec "$(peer_ns "$i")" "$FFWALL_TOOLS/netprobe" "$@"
}
