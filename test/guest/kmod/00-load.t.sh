#!/bin/bash
# SPDX-License-Identifier: MIT
# ffwall.ko loads with its selftests (DEBUG build), reports its features and
# table memory, refuses rmmod while /dev/ffwall is open, and unloads.
source "$FFWALL_ROOT/test/guest/lib.sh"
ctl="$FFWALL_TOOLS/ffwallctl"
plan 12

dmesg -C
run_ok "insmod runs the selftests and loads" -- load_ffwall
dmesg | grep -q 'ffwall: table selftests passed'
ok $? "the table selftests passed at load"
is "$("$ctl" version | awk '/^abi_version/ {print $2}')" 1 "VERSION reports ABI version 1"
feat=$("$ctl" version | awk '/^features/ {print $2}')
[ $((feat & 0x7f)) -eq $((0x7f)) ]
ok $? "VERSION sets the issue-3 feature bits ($feat)"
[ $((feat >> 16)) -eq 0 ]
ok $? "VERSION sets no bit the header does not define"
is "$("$ctl" config max_entries)" 1048576 "max_entries defaults to 1M"
is "$("$ctl" devices | wc -l)" 0 "no device is attached by default"
is "$("$ctl" stats entries)" 0 "the table starts empty"

exec 3</dev/ffwall
run_fails "rmmod is refused while /dev/ffwall is open" -- rmmod ffwall
exec 3<&-
run_ok "rmmod succeeds once it is closed" -- rmmod ffwall
[ ! -e /dev/ffwall ]
ok $? "/dev/ffwall is gone"
run_fails "loading with max_entries=0 is refused" -- insmod "$FFWALL_KO" max_entries=0
done_testing
