#!/bin/bash
# SPDX-License-Identifier: MIT
# DUMP across its three phases (exact, prefixes, allowlist) under concurrent
# ADD, DEL and resize from another process: every entry present for the
# whole dump is returned exactly once and no entry twice (test/tools/
# dump-check.c prints its own TAP lines, 43 for 20 rounds).
source "$FFWALL_ROOT/test/guest/lib.sh"
plan 46

run_ok "ffwall.ko loads" -- load_ffwall
"$FFWALL_TOOLS/dump-check" 20 64 | sed -n 's/^\(not \)\?ok [0-9]* - /\1ok - dump-check: /p' >"${TMPDIR:-/tmp}/dc.$$"
rc=${PIPESTATUS[0]}
while read -r line; do
	case $line in
	"not ok"*) ok 1 "${line#not ok - }" ;;
	*) ok 0 "${line#ok - }" ;;
	esac
done <"${TMPDIR:-/tmp}/dc.$$"
rm -f "${TMPDIR:-/tmp}/dc.$$"
is "$rc" 0 "dump-check exits 0"
run_ok "unload" -- unload_ffwall
done_testing
