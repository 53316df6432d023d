#!/bin/bash
# SPDX-License-Identifier: MIT
# The traffic fixture itself: before ffwall is loaded, every probe from the
# peer gets through, and a probe to an address nobody holds is reported as
# dropped.  The filtering suites rely on both answers.
source "$FFWALL_ROOT/test/guest/lib.sh"
plan 8
trap peer_teardown EXIT
peer_setup
ok $? "peer namespace and veth pair set up"
passes "ICMP echo from the peer gets an answer (IPv4)" -- ping "$FFW_LOCAL4"
passes "ICMPv6 echo from the peer gets an answer" -- ping "$FFW_LOCAL6"
passes "TCP SYN from the peer is answered (IPv4, port 25)" -- tcp "$FFW_LOCAL4" 25
passes "TCP SYN from the peer's second address is answered (IPv6, port 80)" -- -s "$FFW_PEER6B" tcp "$FFW_LOCAL6" 80
passes "UDP from the peer is answered (IPv4)" -- udp "$FFW_LOCAL4" 5353
passes "UDP from the peer is answered (IPv6)" -- udp "$FFW_LOCAL6" 5353
dropped "a probe to an address nobody holds counts as dropped" -- tcp 10.99.0.77 25
done_testing
