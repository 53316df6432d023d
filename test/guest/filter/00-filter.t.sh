#!/bin/bash
# SPDX-License-Identifier: MIT
# The membership filter's ioctls (FILTER_LOAD, FILTER_ADD): errors, a reload,
# the kernel's bits against the userland builder's (read back through the
# DEBUG build's /sys/kernel/debug/ffwall-filter), the false-positive rate of
# a kernel-built filter, and a clean unload with a filter loaded.
source "$FFWALL_ROOT/test/guest/lib.sh"
plan 56

F=$FFWALL_TOOLS/ffwall-filter
DBG=/sys/kernel/debug/ffwall-filter
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
MAX=$((32 * 1024 * 1024))

# expect_errno WANT DESCRIPTION -- CMD...: the command prints WANT.
expect() {
	local want=$1 desc=$2 got
	shift 2
	[ "$1" = -- ] && shift
	got=$("$@" 2>&1)
	is "$got" "$want" "$desc"
}

mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
dmesg -C
load_ffwall
ok $? "ffwall.ko (DEBUG) loads: the filter selftests pass"
dmesg | grep -q 'selftest filter: .* cases passed'
ok $? "the kernel log reports the filter selftests"
dmesg | grep 'selftest filter: .*false positives' | sed 's/^/# /' >&2
run_ok "the userland builder's own SipHash and known answers" -- "$F" selftest
feat=$("$F" version | sed -n 's/.*features \(0x[0-9a-f]*\).*/\1/p')
[ -n "$feat" ] && [ $((feat & (1 << 12))) -ne 0 ]
ok $? "VERSION sets FFWALL_FEAT_FILTER ($feat)"

# ---- Errors ----
expect ENOENT "FILTER_ADD without a filter: ENOENT" -- "$F" try-add addr=10.0.0.1
expect ENOENT "FILTER_ADD of 0 records without a filter: ENOENT" -- "$F" try-add count=0
expect EINVAL "FILTER_LOAD size 0: EINVAL" -- "$F" try-load size=0
expect EINVAL "FILTER_LOAD size 63: EINVAL" -- "$F" try-load size=63
expect EINVAL "FILTER_LOAD size 100 (not a multiple of 64): EINVAL" -- "$F" try-load size=100
expect EINVAL "FILTER_LOAD size above filter_max_bytes: EINVAL" -- "$F" try-load size=$((MAX + 64))
expect EINVAL "FILTER_LOAD size 2^63: EINVAL" -- "$F" try-load size=0x8000000000000000
expect EINVAL "FILTER_LOAD algorithm 0: EINVAL" -- "$F" try-load alg=0
expect EINVAL "FILTER_LOAD algorithm 2: EINVAL" -- "$F" try-load alg=2
expect EINVAL "FILTER_LOAD nhashes 0: EINVAL" -- "$F" try-load k=0
expect EINVAL "FILTER_LOAD nhashes 17: EINVAL" -- "$F" try-load k=17
expect EINVAL "FILTER_LOAD flags: EINVAL" -- "$F" try-load flags=1
expect EINVAL "FILTER_LOAD reserved0: EINVAL" -- "$F" try-load r0=1
expect EINVAL "FILTER_LOAD reserved[0]: EINVAL" -- "$F" try-load r1=1
expect EINVAL "FILTER_LOAD reserved[1]: EINVAL" -- "$F" try-load r2=0x8000000000000000
expect EFAULT "FILTER_LOAD with an unmapped data pointer: EFAULT" -- "$F" try-load data=bad size=4096
expect EFAULT "FILTER_LOAD with an unmapped argument: EFAULT" -- "$F" try-load arg=bad
expect EFAULT "FILTER_ADD with an unmapped argument: EFAULT" -- "$F" try-add arg=bad
expect ENOENT "still no filter after the failed loads" -- "$F" try-add addr=10.0.0.1
is "$("$FFWALL_TOOLS/ffwallctl" stats filter_bytes)" 0 "STATS filter_bytes: 0 without a filter"
expect EPERM "FILTER_LOAD without CAP_NET_ADMIN: EPERM" -- \
	setpriv --bounding-set=-net_admin "$F" try-load
expect EPERM "FILTER_ADD without CAP_NET_ADMIN: EPERM" -- \
	setpriv --bounding-set=-net_admin "$F" try-add addr=10.0.0.1

expect OK "FILTER_LOAD of one block, nhashes 1" -- "$F" try-load size=64 k=1
expect OK "FILTER_LOAD of filter_max_bytes, nhashes 16" -- "$F" try-load size=$MAX k=16 fill=255
cat "$DBG" >"$tmp/max.bin"
is "$(stat -c %s "$tmp/max.bin")" $MAX "the kernel holds a 32 MiB filter"
is "$("$FFWALL_TOOLS/ffwallctl" stats filter_bytes)" $MAX "STATS filter_bytes: the loaded filter's size"
is "$(tr -d '\377' <"$tmp/max.bin" | wc -c)" 0 "loaded as given (all ones)"
rm -f "$tmp/max.bin"
expect OK "FILTER_ADD of 0 records" -- "$F" try-add count=0
expect OK "FILTER_ADD of an IPv4 and an IPv6 address" -- "$F" try-add addr=192.0.2.1 addr=2001:db8::1
expect EINVAL "FILTER_ADD flags: EINVAL" -- "$F" try-add flags=1 addr=10.0.0.1
expect EINVAL "FILTER_ADD reserved: EINVAL" -- "$F" try-add reserved=1 addr=10.0.0.1
expect EINVAL "FILTER_ADD count above FFWALL_BATCH_MAX: EINVAL" -- "$F" try-add count=65537
expect EFAULT "FILTER_ADD with an unmapped address array: EFAULT" -- "$F" try-add addrs=bad count=1

# ---- The kernel's bits against the userland builder's ----
S=0123456789abcdef:fedcba9876543210
"$F" gen -m 3000 >"$tmp/a.txt"
"$F" gen -m 3000 -x | tail -n 1000 >"$tmp/b.txt"
cat "$tmp/a.txt" "$tmp/b.txt" >"$tmp/ab.txt"
printf '10.1.2.3\n# a comment\n\n::ffff:10.1.2.4\nfe80::1\n' >>"$tmp/b.txt"
expect OK "FILTER_LOAD of an empty 4 KiB filter, k 7 (a reload)" -- "$F" try-load size=4096 k=7 seed=$S
is "$(head -c 4096 "$DBG" | tr -d '\0' | wc -c)" 0 "the reload replaced the full filter with an empty one"
run_ok "FILTER_ADD of 3000 addresses" -- "$F" add <"$tmp/a.txt"
run_ok "the builder builds the same set without uploading" -- \
	"$F" load -N -b 4096 -k 7 -s $S -o "$tmp/user-a.bin" <"$tmp/a.txt"
cat "$DBG" >"$tmp/kern-a.bin"
run_ok "the kernel's FILTER_ADD bits equal the builder's, bit for bit" -- cmp "$tmp/kern-a.bin" "$tmp/user-a.bin"

S2=00000000deadbeef:0000000000000001
run_ok "the builder uploads a filter it built (FILTER_LOAD, 8 KiB, k 5)" -- \
	"$F" load -b 8192 -k 5 -s $S2 -o "$tmp/user-b.bin" <"$tmp/a.txt"
cat "$DBG" >"$tmp/kern-b.bin"
run_ok "the kernel holds the uploaded bits unchanged" -- cmp "$tmp/kern-b.bin" "$tmp/user-b.bin"
run_ok "FILTER_ADD after the load" -- "$F" add <"$tmp/b.txt"
"$F" load -N -b 8192 -k 5 -s $S2 -o "$tmp/user-ab.bin" <<<"$(cat "$tmp/a.txt" "$tmp/b.txt")" >/dev/null
cat "$DBG" >"$tmp/kern-ab.bin"
run_ok "a FILTER_ADD after the load is honoured: the bits equal a build of both sets" -- \
	cmp "$tmp/kern-ab.bin" "$tmp/user-ab.bin"
! cmp -s "$tmp/kern-ab.bin" "$tmp/kern-b.bin"
ok $? "and the added members changed the filter"

# ---- The false-positive rate of a kernel-built filter ----
N=20000
PLAN=$("$F" plan -m $N -p 0.01)
BYTES=$(sed -n 's/.* bytes \([0-9]*\) .*/\1/p' <<<"$PLAN")
K=$(sed -n 's/.* k \([0-9]*\) .*/\1/p' <<<"$PLAN")
diag "plan: $PLAN"
expect OK "FILTER_LOAD of an empty filter sized for $N members at 1% ($BYTES bytes, k $K)" -- \
	"$F" try-load size="$BYTES" k="$K" seed=$S members=0
"$F" gen -m $N >"$tmp/n.txt"
run_ok "FILTER_ADD of $N members" -- "$F" add <"$tmp/n.txt"
cat "$DBG" >"$tmp/kern-n.bin"
out=$("$F" fpr -i "$tmp/kern-n.bin" -m $N -q 400000 -k "$K" -s $S 2>&1)
ok $? "the kernel-built filter: no false negatives, FPR within tolerance of the model"
diag "$out"

# ---- Unload with a filter loaded ----
rmmod ffwall
ok $? "rmmod with a filter loaded"
[ ! -e "$DBG" ]
ok $? "the debugfs file is gone"

insmod "$FFWALL_KO_NODEBUG"
ok $? "the non-DEBUG module loads"
run_ok "the non-DEBUG module takes a filter" -- "$F" load -n 1000 -p 0.01 <"$tmp/a.txt"
run_ok "and FILTER_ADD" -- "$F" add <"$tmp/b.txt"
rmmod ffwall
ok $? "the non-DEBUG module unloads with a filter loaded"
done_testing
