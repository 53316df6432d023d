#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Guest side of the drop-path benchmark (issue 11, item 1).  For each table
# size, the same N IPv4 addresses (10.0.0.0 upward) are loaded into
#   - ffwall.ko (exact entries), hooked on dummy0 only while measured;
#   - an nftables netdev ingress chain on dummy0 with `ip saddr @ban drop`
#     (the set is loaded with `nft -f` in chunks, under a time cap);
#   - an ipset hash:ip matched by `iptables -t raw -A PREROUTING -m set`
#     (Debian's iptables, the nf_tables backend);
# and "none" is the baseline.  Two reference peers measure the hooks alone:
# "hook-netdev", an nftables netdev ingress chain on dummy0 without rules,
# and "hook-pre", an ip prerouting chain at the raw priority without rules.
# pktgen injects UDP packets straight into dummy0's receive path (xmit_mode netif_receive) from random sources over
# [10.0.0.0, 10.0.0.0 + 2N): half of them are in the table ("mix"); a second
# traffic ("miss") comes from the half not in the table only.  Passing packets
# go to 198.51.100.1, not local, with forwarding off: the route lookup
# drops them, the same for every peer.
#
# Only one peer is active at a time; the peers are interleaved, each
# repetition starting one further along (A B C D, B C D A, ...).  Every burst
# runs inside tools/qemu-plugin/pktgen-burst, whose two marks let the icount
# plugin (when QEMU loads it) count the instructions the burst executed.
#
# The prefix table ("table":"prefix", after the host table's sizes): N IPv4
# prefixes, prefix j at 10.0.0.0 + 256 j (one /24 slot each) with length
# 24 + (j mod 4), i.e. /24, /25, /26, /27 in turn, four lengths in use.  They
# go into ffwall.ko as prefix entries (its prefix set: one hash probe per
# length in use), an nftables set with `flags interval` (loaded in chunks of
# 250k) and an ipset hash:net (which also probes once per prefix length in
# use).  Traffic "mix": sources over the 2N slots (the first N hold the
# prefixes; 0.5 * (1 + 1/2 + 1/4 + 1/8) / 4 = 23% of the packets fall inside
# one); "miss": sources over the second N slots only.
#
# One JSON object per line goes to $FFWALL_OUT/drop.ndjson:
#   {"kind":"burst","table":"host"|"prefix","size":N,"traffic":T,"peer":P,"rep":R,"warmup":B,"packets":..,"usec":..,...}
#   {"kind":"load","table":..,"size":N,"peer":P,"seconds":S,"dnf":B,"cap_s":C,"loaded":K}
# ffwall's bursts also carry its own counters (ffwall_seen, ffwall_dropped:
# exact and prefix drops), a check that the traffic mix is what it should be.
#
# Settings (environment): FFWALL_DROP_SIZES ("1000 100000 1000000"),
# FFWALL_DROP_REPS (10), FFWALL_DROP_PKTS (packets per burst, 50000),
# FFWALL_DROP_PREFIX_SIZES (the prefix table's sizes, default the same; empty
# for none), FFWALL_DROP_PREFIX_REPS (default FFWALL_DROP_REPS),
# FFWALL_DROP_NFT_CAP (seconds for loading one nft set, 480),
# FFWALL_DROP_LOAD_CAP (seconds for any other load, 600).
set -euo pipefail
SIZES=${FFWALL_DROP_SIZES:-1000 100000 1000000}
REPS=${FFWALL_DROP_REPS:-10}
PSIZES=${FFWALL_DROP_PREFIX_SIZES-$SIZES}
PREPS=${FFWALL_DROP_PREFIX_REPS:-$REPS}
PKTS=${FFWALL_DROP_PKTS:-50000}
NFT_CAP=${FFWALL_DROP_NFT_CAP:-480}
LOAD_CAP=${FFWALL_DROP_LOAD_CAP:-600}
out=$FFWALL_OUT/drop.ndjson
: >"$out"
work=$(mktemp -d)
ctl=$FFWALL_TOOLS/ffwallctl
burst=$FFWALL_TOOLS/pktgen-burst
dev=dummy0
PEERS=(none ffwall nft ipset hook-netdev hook-pre)

emit() { echo "$1" >>"$out"; echo "$1"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

max=0
for n in $SIZES; do [ "$n" -gt "$max" ] && max=$n; done
pmax=0
for n in $PSIZES; do [ "$n" -gt "$pmax" ] && pmax=$n; done
load=$FFWALL_TOOLS/ffwall-load

# The device and the guest's routing: forwarding off (the default), no
# reverse-path filter, so a passing packet ends at the route lookup.
modprobe dummy
ip link add "$dev" type dummy
ip link set "$dev" up
ip addr add 192.0.2.1/24 dev "$dev"
sysctl -qw net.ipv4.ip_forward=0 net.ipv4.conf.all.rp_filter=0 "net.ipv4.conf.$dev.rp_filter=0"
mac=$(cat "/sys/class/net/$dev/address")

# max_prefixes ranges over 1..1048576.
mp=$((pmax + 1024 > 1048576 ? 1048576 : pmax + 1024))
insmod "$FFWALL_KO" max_entries=$((max + 1024)) max_prefixes=$mp
modprobe pktgen
modprobe ip_set_hash_ip
modprobe ip_set_hash_net
modprobe xt_set
pg() { echo "$2" >"/proc/net/pktgen/$1"; }
pg kpktgend_0 "rem_device_all"
pg kpktgend_0 "add_device $dev"

# pktgen for table size N and a traffic mix: "mix", random sources over
# [10.0.0.0, +2N), half of them in the table; "miss", over [10.0.0.0 + N, +2N),
# none in the table (the filter's lookup alone, without the work its drops save).
# The prefix table's N counts /24 slots of 256 addresses.
pktgen_setup() {
	local n=$1 traffic=$2 table=$3 lo hi
	[ "$table" = prefix ] && n=$((n * 256))
	lo=167772160
	[ "$traffic" = miss ] && lo=$((167772160 + n))
	hi=$((167772160 + 2 * n - 1))
	pg "$dev" "count $PKTS"
	pg "$dev" "pkt_size 60"
	pg "$dev" "delay 0"
	pg "$dev" "xmit_mode netif_receive"
	pg "$dev" "dst 198.51.100.1"
	pg "$dev" "dst_mac $mac"
	pg "$dev" "src_min $((lo >> 24 & 255)).$((lo >> 16 & 255)).$((lo >> 8 & 255)).$((lo & 255))"
	pg "$dev" "src_max $((hi >> 24 & 255)).$((hi >> 16 & 255)).$((hi >> 8 & 255)).$((hi & 255))"
	pg "$dev" "flag IPSRC_RND"
	pg "$dev" "udp_dst_min 9"
	pg "$dev" "udp_dst_max 9"
}

nft_chain_on() {
	printf 'table netdev bench {\n  chain in {\n    type filter hook ingress device "%s" priority 0;\n    ip saddr @ban drop\n  }\n}\n' "$dev" >"$work/chain.nft"
	nft -f "$work/chain.nft"
}
nft_chain_off() { nft delete chain netdev bench in; }
ipt_on() { iptables -t raw -A PREROUTING -i "$dev" -m set --match-set bench src -j DROP; }
# Removing the table removes its hook as well: the other peers do not pay
# for an empty raw PREROUTING chain.
ipt_off() { nft delete table ip raw; }

# Reference peers: the hooks alone, no rule.  What a filter costs above its
# hook is its own work; the hook is the framework's price of being called.
hook_on() {
	case $1 in
	netdev) printf 'table netdev hookonly {\n  chain in {\n    type filter hook ingress device "%s" priority 0;\n  }\n}\n' "$dev" ;;
	pre) printf 'table ip hookonly {\n  chain pre {\n    type filter hook prerouting priority -300;\n  }\n}\n' ;;
	esac >"$work/hook.nft"
	nft -f "$work/hook.nft"
}

peer_on() {
	case $1 in
	none) ;;
	hook-netdev) hook_on netdev ;;
	hook-pre) hook_on pre ;;
	ffwall) "$ctl" attach "$dev" >/dev/null ;;
	nft) nft_chain_on ;;
	ipset) ipt_on ;;
	esac
}
peer_off() {
	case $1 in
	none) ;;
	hook-netdev) nft delete table netdev hookonly ;;
	hook-pre) nft delete table ip hookonly ;;
	ffwall) "$ctl" detach "$dev" >/dev/null ;;
	nft) nft_chain_off ;;
	ipset) ipt_off ;;
	esac
}

# One burst; its result line from pktgen: "Result: OK: U(cX+dY) usec, P (60byte,0frags)".
run_burst() {
	local table=$1 size=$2 traffic=$3 peer=$4 rep=$5 warm=$6 res usec pkts seen0=0 drop0=0 seen1=0 drop1=0
	if [ "$peer" = ffwall ]; then
		seen0=$("$ctl" stats packets_seen)
		drop0=$(($("$ctl" stats dropped_exact) + $("$ctl" stats dropped_prefix)))
	fi
	"$burst" "$dev" "$PKTS"
	res=$(grep -m1 '^Result:' "/proc/net/pktgen/$dev")
	usec=$(echo "$res" | sed -n 's/^Result: OK: \([0-9]*\)(.*/\1/p')
	pkts=$(echo "$res" | sed -n 's/^Result: OK: [^,]*, \([0-9]*\) .*/\1/p')
	if [ -z "$usec" ] || [ -z "$pkts" ]; then
		echo "drop: pktgen did not finish a burst: $res" >&2
		exit 1
	fi
	local extra=""
	if [ "$peer" = ffwall ]; then
		seen1=$("$ctl" stats packets_seen)
		drop1=$(($("$ctl" stats dropped_exact) + $("$ctl" stats dropped_prefix)))
		extra=",\"ffwall_seen\":$((seen1 - seen0)),\"ffwall_dropped\":$((drop1 - drop0))"
	fi
	emit "{\"kind\":\"burst\",\"table\":\"$table\",\"size\":$size,\"traffic\":\"$traffic\",\"peer\":\"$peer\",\"rep\":$rep,\"warmup\":$warm,\"packets\":$pkts,\"usec\":$usec$extra}"
}

# One table size: load the three tables, then the interleaved bursts.
# measure TABLE N REPS (TABLE host: N addresses; prefix: N prefixes).
measure() {
	local table=$1 n=$2 reps=$3 t0 loaded ipset_dnf nft_dnf k p q r i f traffic chunk
	if [ "$table" = host ]; then
		# The same N addresses for everyone: 10.0.0.0 upward.
		awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) { x = 167772160 + i;
			printf "%d.%d.%d.%d\n", int(x / 16777216) % 256, int(x / 65536) % 256, int(x / 256) % 256, x % 256 } }' >"$work/addrs"
	else
		# Prefix j: 10.0.0.0 + 256 j, length /24, /25, /26, /27 in turn.
		awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) { x = 167772160 + 256 * i;
			printf "%d.%d.%d.0/%d\n", int(x / 16777216) % 256, int(x / 65536) % 256, int(x / 256) % 256, 24 + i % 4 } }' >"$work/addrs"
	fi

	# ffwall: exact entries or prefixes, the other table empty.
	"$ctl" flush >/dev/null
	t0=$(now)
	if [ "$table" = host ]; then
		timeout "$LOAD_CAP" "$ctl" add-seq 10.0.0.0 "$n" >/dev/null
		loaded=$("$ctl" stats entries)
	else
		timeout "$LOAD_CAP" "$load" <"$work/addrs" >/dev/null
		loaded=$("$ctl" stats prefixes)
	fi
	emit "{\"kind\":\"load\",\"table\":\"$table\",\"size\":$n,\"peer\":\"ffwall\",\"seconds\":$(secs "$t0" "$(now)"),\"dnf\":false,\"loaded\":$loaded}"

	# ipset hash:ip, or hash:net for prefixes.
	ipset destroy bench 2>/dev/null || true
	t0=$(now)
	{
		echo "create bench hash:$([ "$table" = host ] && echo ip || echo net) family inet hashsize $((n < 1024 ? 1024 : n)) maxelem $((n + 1024))"
		sed 's/^/add bench /' "$work/addrs"
	} >"$work/ipset.restore"
	ipset_dnf=false
	timeout "$LOAD_CAP" ipset restore -f "$work/ipset.restore" || ipset_dnf=true
	loaded=$(ipset list -t bench | awk -F': ' '/Number of entries/ {print $2}')
	emit "{\"kind\":\"load\",\"table\":\"$table\",\"size\":$n,\"peer\":\"ipset\",\"seconds\":$(secs "$t0" "$(now)"),\"dnf\":$ipset_dnf,\"cap_s\":$LOAD_CAP,\"loaded\":${loaded:-0}}"

	# nftables: the set in chunks (one huge command is slow to parse): 50k
	# addresses, or 250k prefixes into an interval set (fewer chunks, since
	# adding to an interval set may make nft read the set back first).
	nft delete table netdev bench 2>/dev/null || true
	if [ "$table" = host ]; then
		printf 'table netdev bench {\n  set ban { type ipv4_addr; size %d; }\n}\n' $((n + 1024)) >"$work/set.nft"
		chunk=50000
	else
		printf 'table netdev bench {\n  set ban { type ipv4_addr; flags interval; size %d; }\n}\n' $((n + 1024)) >"$work/set.nft"
		chunk=250000
	fi
	rm -f "$work"/chunk.*
	split -l "$chunk" "$work/addrs" "$work/chunk."
	for f in "$work"/chunk.*; do
		{ printf 'add element netdev bench ban { '; paste -sd, "$f" | tr -d '\n'; printf ' }\n'; } >"$f.nft"
	done
	t0=$(now)
	nft_dnf=false
	# Counts the chunks loaded as it goes: listing a large set is itself slow.
	echo 0 >"$work/nft.loaded"
	timeout "$NFT_CAP" bash -c 'set -e; nft -f "$1/set.nft"; k=0
		for f in "$1"/chunk.*.nft; do nft -f "$f"; k=$((k + $(grep -o , "$f" | wc -l) + 1)); echo $k >"$1/nft.loaded"; done' _ "$work" || nft_dnf=true
	loaded=$(cat "$work/nft.loaded")
	emit "{\"kind\":\"load\",\"table\":\"$table\",\"size\":$n,\"peer\":\"nft\",\"seconds\":$(secs "$t0" "$(now)"),\"dnf\":$nft_dnf,\"cap_s\":$NFT_CAP,\"loaded\":$loaded}"

	local peers=(none ffwall ipset hook-netdev hook-pre) active=()
	$nft_dnf || peers+=(nft)
	$ipset_dnf && peers=("${peers[@]/ipset/}")
	for p in "${PEERS[@]}"; do
		for q in "${peers[@]}"; do [ "$p" = "$q" ] && active+=("$p"); done
	done

	k=${#active[@]}
	for traffic in mix miss; do
		pktgen_setup "$n" "$traffic" "$table"
		# One warm-up burst per peer (translation cache, first touch), then REPS rounds.
		for p in "${active[@]}"; do
			peer_on "$p"
			run_burst "$table" "$n" "$traffic" "$p" 0 true
			peer_off "$p"
		done
		for ((r = 1; r <= reps; r++)); do
			for ((i = 0; i < k; i++)); do
				p=${active[$(((i + r) % k))]}
				peer_on "$p"
				run_burst "$table" "$n" "$traffic" "$p" "$r" false
				peer_off "$p"
			done
		done
	done
	ipset destroy bench
	nft delete table netdev bench 2>/dev/null || true
}

for n in $SIZES; do measure host "$n" "$REPS"; done
for n in $PSIZES; do measure prefix "$n" "$PREPS"; done
"$ctl" flush >/dev/null

pg kpktgend_0 "rem_device_all"
rmmod ffwall
rm -rf "$work"
