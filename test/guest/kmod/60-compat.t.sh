#!/bin/bash
# SPDX-License-Identifier: MIT
# The ABI from a 32-bit process: abi-test built with -m32 -static
# (build/tools/abi-test32) runs every command through the compat ioctl path
# (compat_ptr_ioctl) and prints the same TAP as the 64-bit build.
source "$FFWALL_ROOT/test/guest/lib.sh"
if [ ! -x "$FFWALL_TOOLS/abi-test32" ]; then
	echo "Bail out! build/tools/abi-test32 is missing (scripts/build-tools.sh, gcc-multilib)"
	exit 1
fi
if ! load_ffwall; then
	echo "Bail out! ffwall.ko does not load"
	exit 1
fi
"$FFWALL_TOOLS/abi-test32"
st=$?
if [ $st -eq 126 ] || [ $st -eq 127 ]; then
	echo "Bail out! cannot run a 32-bit binary (IA32 emulation off?)"
fi
rmmod ffwall || st=1
exit $st
