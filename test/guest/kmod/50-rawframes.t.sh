#!/bin/bash
# SPDX-License-Identifier: MIT
# Hand-built frames (test/tools/rawsend.c) from the peer's eth0 to ffw0, for
# the parser paths real sockets do not reach: IPv6 extension headers before
# TCP, IPv6 and IPv4 first and non-first fragments, 802.1Q tags in the
# payload and from a VLAN device (hardware-accelerated tag), QinQ, truncated
# IP headers.  Each frame is judged by ffwall's counters and by what arrives
# behind the hook: a SYN to a closed port makes TCP send a RST (Tcp OutRsts),
# a fragment enters reassembly (ReasmReqds), a truncated header is an IP
# header error (InHdrErrors).
#
# The frames come from addresses nothing else uses (.66), with permanent
# neighbour entries on this side, so no other packet moves the counters.
source "$FFWALL_ROOT/test/guest/lib.sh"
ctl="$FFWALL_TOOLS/ffwallctl"
rawsend="$FFWALL_TOOLS/rawsend"
plan 35
trap peer_teardown EXIT

SRC4=10.99.0.66
SRC6=fd99::66
VSRC4=10.99.100.66
VSRC6=fd99:100::66
QSRC4=10.99.200.66
QQSRC4=10.99.201.66

peer_setup
ok $? "peer namespace and veth pair set up"
run_ok "ffwall.ko loads with devices=$FFW_DEV" -- load_ffwall devices=$FFW_DEV
FFW_MAC=$(cat /sys/class/net/$FFW_DEV/address)
PEER_MAC=$(ip netns exec peer cat /sys/class/net/eth0/address)

# VLANs on this side: 100 (802.1Q) and QinQ 300 (802.1ad) / 200 (802.1Q).
# On the peer, eth0.100 tags in skb metadata (veth offers tx-vlan-hw-insert).
modprobe 8021q 2>/dev/null
ip link add link $FFW_DEV name ffw0.100 type vlan id 100 &&
	ip addr add 10.99.100.1/24 dev ffw0.100 &&
	ip -6 addr add fd99:100::1/64 dev ffw0.100 nodad &&
	ip link set ffw0.100 up &&
	ip link add link $FFW_DEV name ffw0.300 type vlan protocol 802.1ad id 300 &&
	ip link set ffw0.300 up &&
	ip link add link ffw0.300 name ffw0q type vlan id 200 &&
	ip addr add 10.99.200.1/24 dev ffw0q &&
	ip link set ffw0q up &&
	ip -n peer link add link eth0 name eth0.100 type vlan id 100 &&
	ip netns exec peer sh -c 'echo 1 >/proc/sys/net/ipv6/conf/eth0.100/disable_ipv6' &&
	ip -n peer link set eth0.100 up &&
	ip neigh replace $SRC4 lladdr "$PEER_MAC" dev $FFW_DEV nud permanent &&
	ip neigh replace $SRC6 lladdr "$PEER_MAC" dev $FFW_DEV nud permanent &&
	ip neigh replace $VSRC4 lladdr "$PEER_MAC" dev ffw0.100 nud permanent &&
	ip neigh replace $VSRC6 lladdr "$PEER_MAC" dev ffw0.100 nud permanent &&
	ip neigh replace $QSRC4 lladdr "$PEER_MAC" dev ffw0q nud permanent
ok $? "VLAN devices (802.1Q 100, QinQ 300/200) and neighbour entries set up"
ip link add link ffw0.100 name ffw0qq type vlan id 201 &&
	ip addr add 10.99.201.1/24 dev ffw0qq &&
	ip link set ffw0qq up &&
	ip neigh replace $QQSRC4 lladdr "$PEER_MAC" dev ffw0qq nud permanent
ok $? "QinQ with an 802.1Q outer tag (100/201) set up"

# ---- counters --------------------------------------------------------------
fstat() { "$ctl" stats "$1"; }
# snmp GROUP FIELD: /proc/net/snmp (IPv4, and TCP for both families).
snmp() {
	awk -v g="$1:" -v f="$2" '$1 == g {
		if (!c) { for (i = 2; i <= NF; i++) if ($i == f) c = i; next }
		print $c; exit }' /proc/net/snmp
}
snmp6() { awk -v f="$1" '$1 == f { print $2 }' /proc/net/snmp6; }
rsts() { snmp Tcp OutRsts; }
reasm4() { snmp Ip ReasmReqds; }
reasm6() { snmp6 Ip6ReasmReqds; }
hdrerr4() { snmp Ip InHdrErrors; }
hdrerr6() { snmp6 Ip6InHdrErrors; }
icmp6echo() { snmp6 Icmp6InEchos; }
udp6noports() { snmp6 Udp6NoPorts; }
none() { echo 0; }

# upto WANT CMD...: CMD's value once it reaches WANT (a bounded poll: the
# receive path may finish on another CPU after rawsend returns), else its last.
upto() {
	local want=$1 v i
	shift
	for i in $(seq 100); do
		v=$("$@")
		[ "$v" -ge "$want" ] && break
		sleep 0.05
	done
	echo "$v"
}

# frame DESC DROP_COUNTER DROPS ARRIVAL ARRIVALS [-d DEV] -- rawsend-args...
# Sends one frame from the peer and checks how much ffwall's DROP_COUNTER
# and the ARRIVAL counter behind the hook moved.
frame() {
	local desc=$1 dc=$2 dn=$3 af=$4 an=$5 dev=eth0 d0 a0 d a
	shift 5
	if [ "$1" = -d ]; then
		dev=$2
		shift 2
	fi
	[ "$1" = -- ] && shift
	d0=$(fstat "$dc")
	a0=$($af)
	ip netns exec peer "$rawsend" -i "$dev" --dst-mac "$FFW_MAC" "$@" ||
		diag "rawsend $* failed"
	d=$(upto $((d0 + dn)) fstat "$dc")
	a=$(upto $((a0 + an)) "$af")
	is "$dc+$((d - d0)) $af+$((a - a0))" "$dc+$dn $af+$an" "$desc"
}

EXT="--hbh --dstopt --rthdr"

# ---- IPv6 extension headers before TCP --------------------------------------
frame "IPv6 SYN to 25 behind HBH, DSTOPT, RH0: reaches TCP with no entry" \
	dropped_ports 0 rsts 1 -- --src $SRC6 --dst $FFW_LOCAL6 $EXT --dport 25
"$ctl" add $SRC6 ports=25
frame "IPv6 SYN to 25 behind HBH, DSTOPT, RH0: dropped by the port-scoped entry" \
	dropped_ports 1 rsts 0 -- --src $SRC6 --dst $FFW_LOCAL6 $EXT --dport 25
frame "IPv6 SYN to 80 behind HBH, DSTOPT, RH0: passes the port-scoped entry" \
	dropped_ports 0 rsts 1 -- --src $SRC6 --dst $FFW_LOCAL6 $EXT --dport 80
frame "IPv6 UDP to 25 behind DSTOPT: dropped by the port-scoped entry" \
	dropped_ports 1 udp6noports 0 -- --src $SRC6 --dst $FFW_LOCAL6 --dstopt --proto udp --dport 25
frame "ICMPv6 echo behind HBH: passes the port-scoped entry" \
	dropped_ports 0 icmp6echo 1 -- --src $SRC6 --dst $FFW_LOCAL6 --hbh --proto icmp

# ---- IPv6 fragments ----------------------------------------------------------
frame "IPv6 first fragment with TCP to 25: dropped by the port-scoped entry" \
	dropped_ports 1 reasm6 0 -- --src $SRC6 --dst $FFW_LOCAL6 --frag 0 --mf --id 101 --dport 25
frame "IPv6 first fragment behind HBH and DSTOPT with TCP to 25: dropped" \
	dropped_ports 1 reasm6 0 -- --src $SRC6 --dst $FFW_LOCAL6 --hbh --dstopt --frag 0 --mf --id 102 --dport 25
frame "IPv6 first fragment with TCP to 80: passes into reassembly" \
	dropped_ports 0 reasm6 1 -- --src $SRC6 --dst $FFW_LOCAL6 --frag 0 --mf --id 103 --dport 80
frame "IPv6 non-first fragment (offset 64): passes the port-scoped entry" \
	dropped_ports 0 reasm6 1 -- --src $SRC6 --dst $FFW_LOCAL6 --frag 8 --id 104
"$ctl" add $SRC6
frame "IPv6 first fragment: dropped by the whole-address entry" \
	dropped_exact 1 reasm6 0 -- --src $SRC6 --dst $FFW_LOCAL6 --frag 0 --mf --id 105 --dport 25
frame "IPv6 non-first fragment: dropped by the whole-address entry" \
	dropped_exact 1 reasm6 0 -- --src $SRC6 --dst $FFW_LOCAL6 --frag 8 --id 106

# ---- IPv4 fragments ----------------------------------------------------------
frame "IPv4 first fragment with TCP to 25: reaches reassembly with no entry" \
	dropped_ports 0 reasm4 1 -- --src $SRC4 --dst $FFW_LOCAL4 --frag 0 --mf --id 201 --dport 25
"$ctl" add $SRC4 ports=25
frame "IPv4 first fragment with TCP to 25: dropped by the port-scoped entry" \
	dropped_ports 1 reasm4 0 -- --src $SRC4 --dst $FFW_LOCAL4 --frag 0 --mf --id 202 --dport 25
frame "IPv4 first fragment with UDP to 25: dropped by the port-scoped entry" \
	dropped_ports 1 reasm4 0 -- --src $SRC4 --dst $FFW_LOCAL4 --proto udp --frag 0 --mf --id 203 --dport 25
frame "IPv4 non-first fragment (offset 64): passes the port-scoped entry" \
	dropped_ports 0 reasm4 1 -- --src $SRC4 --dst $FFW_LOCAL4 --frag 8 --id 204
frame "IPv4 unfragmented SYN to 80: passes the port-scoped entry" \
	dropped_ports 0 rsts 1 -- --src $SRC4 --dst $FFW_LOCAL4 --dport 80
"$ctl" add $SRC4
frame "IPv4 first fragment: dropped by the whole-address entry" \
	dropped_exact 1 reasm4 0 -- --src $SRC4 --dst $FFW_LOCAL4 --frag 0 --mf --id 205 --dport 25
frame "IPv4 non-first fragment: dropped by the whole-address entry" \
	dropped_exact 1 reasm4 0 -- --src $SRC4 --dst $FFW_LOCAL4 --frag 8 --id 206

# ---- VLAN --------------------------------------------------------------------
frame "802.1Q-tagged SYN (tag in the payload), no entry: reaches TCP on ffw0.100" \
	dropped_exact 0 rsts 1 -- --vlan 100 --src $VSRC4 --dst 10.99.100.1 --dport 80
"$ctl" add $VSRC4
"$ctl" add $VSRC6
frame "802.1Q-tagged SYN (tag in the payload) from a banned source: dropped" \
	dropped_exact 1 rsts 0 -- --vlan 100 --src $VSRC4 --dst 10.99.100.1 --dport 80
frame "SYN from the peer's eth0.100 (tag in skb metadata) from a banned source: dropped" \
	dropped_exact 1 rsts 0 -d eth0.100 -- --src $VSRC4 --dst 10.99.100.1 --dport 80
frame "802.1Q-tagged IPv6 SYN from a banned source: dropped" \
	dropped_exact 1 rsts 0 -- --vlan 100 --src $VSRC6 --dst fd99:100::1 --dport 80
"$ctl" add $VSRC4 ports=25
frame "802.1Q-tagged SYN to 25, port-scoped entry: dropped" \
	dropped_ports 1 rsts 0 -- --vlan 100 --src $VSRC4 --dst 10.99.100.1 --dport 25
frame "802.1Q-tagged SYN to 80, port-scoped entry: passes to ffw0.100" \
	dropped_ports 0 rsts 1 -- --vlan 100 --src $VSRC4 --dst 10.99.100.1 --dport 80
"$ctl" add $QSRC4
frame "QinQ SYN (802.1ad 300 + 802.1Q 200) from a banned source: passes to ffw0q" \
	dropped_exact 0 rsts 1 -- --vlan 300 --vlan 200 --src $QSRC4 --dst 10.99.200.1 --dport 80
frame "the QinQ frame is counted as not IP" \
	packets_not_ip 1 none 0 -- --vlan 300 --vlan 200 --src $QSRC4 --dst 10.99.200.1 --dport 80
"$ctl" add $QQSRC4
frame "QinQ SYN (802.1Q 100 + 802.1Q 201) from a banned source: passes to ffw0qq" \
	dropped_exact 0 rsts 1 -- --outer-tpid 0x8100 --vlan 100 --vlan 201 --src $QQSRC4 --dst 10.99.201.1 --dport 80
"$ctl" attach ffw0q
frame "with the inner VLAN device ffw0q attached, the QinQ SYN is dropped there" \
	dropped_exact 1 rsts 0 -- --vlan 300 --vlan 200 --src $QSRC4 --dst 10.99.200.1 --dport 80

# ---- truncated headers --------------------------------------------------------
frame "IPv4 header cut to 16 bytes from a banned source: not IP, passes to ip_rcv" \
	packets_not_ip 1 hdrerr4 1 -- --src $SRC4 --dst $FFW_LOCAL4 --truncate 16
frame "IPv6 header cut to 24 bytes from a banned source: not IP, passes to ipv6_rcv" \
	packets_not_ip 1 hdrerr6 1 -- --src $SRC6 --dst $FFW_LOCAL6 --truncate 24

run_ok "rmmod" -- rmmod ffwall
done_testing
