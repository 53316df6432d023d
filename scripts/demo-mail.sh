#!/bin/bash
# SPDX-License-Identifier: MIT
#
# What `npm run demo` runs inside its throwaway guest (scripts/demo-vm.mjs
# boots it): the whole mail story of issue 10.
#   - ffwall.ko, and DEMO_GOOD + DEMO_BOTS peer namespaces on one bridge,
#     each peer's veth hooked by ffwall;
#   - a real Postfix (Debian's package, unpatched: test/guest/lib-postfix.sh)
#     that knows two users and asks ffwall's policy service at RCPT;
#   - `ffwall daemon` with the policy service and the log watcher following
#     Postfix's log: three "User unknown" rejections within 10 minutes ban
#     the client on the SMTP ports (25, 465, 587) for an hour;
#   - then scripts/demo-mail.mjs: the good peers send mail, the bots spam
#     unknown users, a live line every 5 s, a summary per peer at the end.
# Exit status 0 when the bots were all cut off and every good mail arrived.
set -eu
cd "$FFWALL_ROOT"
source test/guest/lib.sh
source test/guest/lib-postfix.sh

GOOD=${DEMO_GOOD:-3}
BOTS=${DEMO_BOTS:-7}
SECONDS_RUN=${DEMO_SECONDS:-60}
N=$((GOOD + BOTS))
WORK=/tmp/ffwall-demo
SOCK=$WORK/ffwall.sock
POLICY=inet:127.0.0.1:10031
export MAIL_POLICY=$POLICY MAIL_LOG=/var/log/ffwall-demo/mail.log
say() { echo "ffwall-demo: $*"; }

daemon_pid=
cleanup() {
	set +e
	[ -z "$daemon_pid" ] || { kill "$daemon_pid" && wait "$daemon_pid"; } 2>/dev/null
	mail_stop
	peers_teardown "$N"
	[ ! -e /sys/module/ffwall ] || rmmod ffwall
}
trap cleanup EXIT

say "guest kernel $(uname -r)"
rm -rf "$WORK"
mkdir -p "$WORK"
insmod "$FFWALL_KO"
say "loaded ffwall.ko ($(node bin/run.js module version 2>/dev/null | head -n 1))"
peers_setup "$N"
say "$N peer namespaces on bridge $FFW_BR ($FFW_BR_LOCAL4): $(peer_addr 1)..$(peer_addr "$GOOD") good, $(peer_addr $((GOOD + 1)))..$(peer_addr "$N") bots"
mail_setup
mail_start
say "Postfix $(postconf -h mail_version) listening on $MAIL_LISTEN:25, users $(echo "$MAIL_USERS" | sed 's/ /, /g') at $MAIL_DOMAIN, policy service $POLICY, log $MAIL_LOG"

devices=$(peers_devices "$N" | sed 's/ *$//; s/ /", "/g')
echo "nameserver 10.88.0.53" >"$WORK/resolv.conf"
cat >"$WORK/ffwall.jsonc" <<EOF
// The demo's daemon: the policy service for Postfix, the log watcher, bans on the SMTP ports.
{
  "database": { "path": "$WORK/db" },
  "socket": { "path": "$SOCK" },
  "kernel": { "devices": ["$devices"] },
  "sync": { "interval": "2s" },
  "safety": { "resolvConf": "$WORK/resolv.conf" },
  "log": { "level": "info" },
  "offences": { "ttl": "1h", "kinds": { "unknown-user": { "threshold": 3, "window": "10m" } } },
  "postfix": {
    "policy": { "listen": "$POLICY" },
    "log": { "enabled": true, "source": "file", "file": "$MAIL_LOG" }
  }
}
EOF
node bin/run.js daemon --config "$WORK/ffwall.jsonc" >"$WORK/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 1 300); do
	grep -q '"msg":"ready"' "$WORK/daemon.log" && break
	kill -0 "$daemon_pid" 2>/dev/null || break
	sleep 0.2
done
if ! grep -q '"msg":"ready"' "$WORK/daemon.log"; then
	say "the daemon did not start:"
	cat "$WORK/daemon.log"
	exit 1
fi
say "ffwall daemon ready: devices $(peers_devices "$N"| sed 's/ *$//'), unknown-user threshold 3 in 10 min, bans on 25,465,587 for 1 h"
say ""
rc=0
node scripts/demo-mail.mjs --good "$GOOD" --bots "$BOTS" --seconds "$SECONDS_RUN" --socket "$SOCK" \
	--server "$MAIL_LISTEN" --domain "$MAIL_DOMAIN" --mbox "$MAIL_DIR/mbox" --users "$MAIL_USERS" \
	--ns-prefix "$FFW_PEER_PREFIX" || rc=$?
say ""
say "the daemon's bans (ffwall list):"
node bin/run.js list --transport client --socket "$SOCK" | sed 's/^/ffwall-demo:   /'
count() { grep -c "$1" "$MAIL_LOG" || true; }
say "Postfix's log: $(count 'User unknown') unknown-user rejections, $(count 'status=sent') deliveries, $(count 'blocked for abuse') refusals by the policy service"
exit $rc
