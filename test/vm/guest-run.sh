#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Guest side of a VM suite: runs every test/guest/<suite>/*.t.sh (TAP shell
# scripts) and the suite's compiled ava tests (dist/test/guest/<suite>/),
# writing each one's TAP to $FFWALL_OUT/tap/ for the host to count, and
# echoing everything to the console.  At the end ffwall.ko must unload: a
# cache that still has objects complains at kmem_cache_destroy().
set -u
suite=$1
cd "$FFWALL_ROOT" || exit 1
tapdir=$FFWALL_OUT/tap
mkdir -p "$tapdir"
failed=0

for t in test/guest/"$suite"/*.t.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .t.sh)
	echo "### $suite/$name"
	bash "$t" | tee "$tapdir/$name.tap"
	[ "${PIPESTATUS[0]}" = 0 ] || failed=1
	# A test that left the module loaded must not leak into the next one.
	if [ -e /sys/module/ffwall ]; then
		rmmod ffwall 2>/dev/null || true
	fi
done

shopt -s nullglob
ava_files=(dist/test/guest/"$suite"/*.test.js)
if [ ${#ava_files[@]} -gt 0 ]; then
	echo "### $suite/ava"
	node_modules/.bin/ava --config ava.guest.config.js --tap "${ava_files[@]}" | tee "$tapdir/zz-ava.tap"
	[ "${PIPESTATUS[0]}" = 0 ] || failed=1
fi

# Teardown: the module, if a test left it loaded, must unload cleanly.
{
	echo "1..1"
	if [ ! -e /sys/module/ffwall ] || rmmod ffwall; then
		echo "ok 1 - ffwall.ko is unloaded at the end of the suite"
	else
		echo "not ok 1 - ffwall.ko is unloaded at the end of the suite"
		failed=1
	fi
} | tee "$tapdir/zzz-teardown.tap"
grep -q '^not ok' "$tapdir/zzz-teardown.tap" && failed=1
exit $failed
