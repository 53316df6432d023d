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
run_ok() {
	local desc=$1
	shift
	[ "$1" = -- ] && shift
	local out
	out=$("$@" 2>&1)
	local st=$?
	ok $st "$desc"
	[ $st -eq 0 ] || diag "'$*' exited $st: $out"
}

# run_fails DESCRIPTION -- CMD...: pass when CMD exits non-zero.
run_fails() {
	local desc=$1
	shift
	[ "$1" = -- ] && shift
	local out
	out=$("$@" 2>&1)
	local st=$?
	[ $st -ne 0 ]
	ok $? "$desc"
	[ $st -ne 0 ] || diag "'$*' unexpectedly succeeded: $out"
}

diag() { echo "# $*" | sed '2,$s/^/# /' >&2; }

# done_testing: exit status for the script.
done_testing() { [ "$_tap_failed" -eq 0 ]; }

# Load the module under test (DEBUG build, so its selftests run at load).
load_ffwall() { insmod "$FFWALL_KO" "$@"; }
unload_ffwall() { [ ! -e /sys/module/ffwall ] || rmmod ffwall; }
