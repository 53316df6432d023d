#!/bin/bash
# SPDX-License-Identifier: MIT
# Hooks follow devices: devices= names a device that does not exist yet; it
# is hooked when it appears, unhooked when deleted, hooked again when created
# again, and follows renames.  "*" hooks every device; DETACH unhooks.
source "$FFWALL_ROOT/test/guest/lib.sh"
ctl="$FFWALL_TOOLS/ffwallctl"
plan 20
trap peer_teardown EXIT

run_ok "ffwall.ko loads with devices=$FFW_DEV before the device exists" -- \
	load_ffwall devices="$FFW_DEV" hook_priority=-200
is "$("$ctl" config hook_priority)" -200 "GET_CONFIG reports the hook priority"
is "$("$ctl" devices)" "$FFW_DEV ifindex=0 named" "the name is listed, not hooked"
"$ctl" add "$FFW_PEER4"

peer_setup
ok $? "the device appears"
"$ctl" devices | grep -q "^$FFW_DEV ifindex=[1-9][0-9]* named hooked$"
ok $? "the new device is hooked"
dropped "traffic from the blocked source is dropped" -- ping "$FFW_LOCAL4"

peer_teardown
is "$("$ctl" devices)" "$FFW_DEV ifindex=0 named" "a deleted device is unhooked, its name kept"
peer_setup
ok $? "the device is created again"
"$ctl" devices | grep -q "^$FFW_DEV ifindex=[1-9][0-9]* named hooked$"
ok $? "the recreated device is hooked again"
dropped "traffic through the recreated device is dropped" -- ping "$FFW_LOCAL4"

# 6.1 renames only a device that is down.
ip link set "$FFW_DEV" down && ip link set "$FFW_DEV" name ffwren && ip link set ffwren up
passes "a renamed device is no longer hooked" -- ping "$FFW_LOCAL4"
ip link set ffwren down && ip link set ffwren name "$FFW_DEV" && ip link set "$FFW_DEV" up
dropped "renamed back, it is hooked again" -- ping "$FFW_LOCAL4"

run_ok "DETACH $FFW_DEV" -- "$ctl" detach "$FFW_DEV"
passes "a detached device filters nothing" -- ping "$FFW_LOCAL4"
run_fails "DETACH of a name not attached fails" -- "$ctl" detach "$FFW_DEV"

run_ok "ATTACH *" -- "$ctl" attach '*'
"$ctl" devices | grep -q "^lo ifindex=1 hooked$"
ok $? "* hooks lo as well"
dropped "* hooks $FFW_DEV" -- ping "$FFW_LOCAL4"
run_ok "DETACH *" -- "$ctl" detach '*'
passes "after DETACH * nothing is filtered" -- ping "$FFW_LOCAL4"
done_testing
