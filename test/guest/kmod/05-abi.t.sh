#!/bin/bash
# SPDX-License-Identifier: MIT
# The ABI: every command with good and bad input (test/tools/abi-test.c
# prints the TAP), then the module unloads.
source "$FFWALL_ROOT/test/guest/lib.sh"
if ! load_ffwall; then
	echo "Bail out! ffwall.ko does not load"
	exit 1
fi
"$FFWALL_TOOLS/abi-test"
st=$?
rmmod ffwall || st=1
exit $st
