#!/bin/bash
# SPDX-License-Identifier: MIT
# Records reaching userland, before the table and the hook raise any: the
# DEBUG module's debug_raise parameter raises N EVICTED events through the
# same path (per-CPU stage, irq_work, every file's ring).  Each reader gets
# every record in order; a reader that does not keep up gets exactly its
# ring's worth, then one OVERFLOW with the exact number lost; blocked readers
# and poll() wake up; a faulting read() loses nothing.
source "$FFWALL_ROOT/test/guest/lib.sh"
ev="$FFWALL_TOOLS/ffwall-events"
plan 13

run_ok "the DEBUG module loads with event_ring_size=16" -- load_ffwall event_ring_size=16
[ -w /sys/module/ffwall/parameters/debug_raise ]
ok $? "the DEBUG build has the debug_raise parameter"
run_ok "one reader gets 10 records in order" -- "$ev" deliver 10 1 16
run_ok "three readers each get 16 records, a full ring, and no OVERFLOW" -- "$ev" deliver 16 3 16
run_ok "three slow readers each get 16 records then OVERFLOW 84" -- "$ev" deliver 100 3 16
run_ok "a blocked read() wakes up for a record" -- "$ev" wake-read
run_ok "poll() wakes up with POLLIN for a record, and times out once drained" -- "$ev" wake-poll
run_ok "read() into an unwritable buffer fails with EFAULT and loses nothing" -- "$ev" efault
run_ok "rmmod" -- rmmod ffwall

run_ok "the DEBUG module loads with the default ring (1024)" -- load_ffwall
run_ok "two slow readers each get 1024 records then OVERFLOW 8976" -- "$ev" deliver 10000 2 1024
run_ok "eight readers each get 1000 records" -- "$ev" deliver 1000 8 1024
run_ok "rmmod" -- rmmod ffwall
done_testing
