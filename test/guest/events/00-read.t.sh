#!/bin/bash
# SPDX-License-Identifier: MIT
# The event side of /dev/ffwall as userland sees it before anything raises
# events: the DEBUG selftests of the rings and the per-CPU staging pass at
# load, read() and poll() follow the uapi header, signals end a blocked
# read, open/close cycles and rmmod leave nothing behind, and the ring size
# parameter is checked.
source "$FFWALL_ROOT/test/guest/lib.sh"
ev="$FFWALL_TOOLS/ffwall-events"
param=/sys/module/ffwall/parameters/event_ring_size
plan 26

dmesg -C
run_ok "the DEBUG module loads (its event selftests pass)" -- load_ffwall
dmesg | grep -q 'selftest events: .* passed'
ok $? "the kernel log reports the event selftests passed"
dmesg | grep -E 'selftest events.*(fail|want)' >&2
[ $? -ne 0 ]
ok $? "the kernel log reports no failing event selftest"
run_ok "VERSION reports FFWALL_FEAT_EVENTS" -- "$ev" feature
is "$(cat $param)" 1024 "event_ring_size defaults to 1024 records"

run_ok "read() with a buffer smaller than one record fails with EINVAL" -- "$ev" small-read
run_ok "an O_NONBLOCK read() of an empty ring fails with EAGAIN" -- "$ev" nonblock-empty
run_ok "poll() for POLLIN on an empty ring times out" -- "$ev" poll-empty 300
run_ok "a signal interrupts a blocked read() (EINTR)" -- "$ev" signal-eintr
run_ok "with SA_RESTART a blocked read() resumes after the handler" -- "$ev" signal-restart
run_ok "SIGKILL ends a reader blocked in read()" -- "$ev" kill-blocked
run_ok "a write-only file: ioctls work, poll() says POLLERR, read() EBADF" -- "$ev" write-only
run_ok "1000 open/close cycles with every access mode" -- "$ev" cycles 1000
run_ok "256 files open at once, polled, closed" -- "$ev" many 256
run_ok "watch on an empty ring prints nothing and ends" -- "$ev" watch 1 200
is "$("$ev" watch 1 200)" "" "watch printed no record"

# A reader waiting in the background holds the module.
"$ev" watch 1 5000 >/dev/null 2>&1 &
holder=$!
sleep 1
rmmod ffwall 2>/dev/null
ok $([ -e /sys/module/ffwall ]; echo $?) "rmmod is refused while a reader waits"
kill $holder
wait $holder 2>/dev/null
run_ok "rmmod succeeds once every file is closed" -- rmmod ffwall

run_fails "event_ring_size below 16 is refused at load" -- load_ffwall event_ring_size=8
run_fails "event_ring_size above 65536 is refused at load" -- load_ffwall event_ring_size=65537
run_ok "the module loads with event_ring_size=16" -- load_ffwall event_ring_size=16
run_fails "writing 15 to event_ring_size is refused" -- sh -c "echo 15 > $param"
run_ok "writing 65536 to event_ring_size is accepted" -- sh -c "echo 65536 > $param && ${ev} cycles 20 && ${ev} many 8"
run_ok "rmmod after the cycles" -- rmmod ffwall

run_ok "the build without DEBUG loads, cycles files and unloads" -- \
	sh -c "insmod '$FFWALL_KO_NODEBUG' && '$ev' feature && '$ev' cycles 200 && '$ev' nonblock-empty && rmmod ffwall"
dmesg | grep -E 'WARNING:|BUG:|Oops:|Call Trace:' >&2
[ $? -ne 0 ]
ok $? "the kernel log has no warning"
done_testing
