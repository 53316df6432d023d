# SPDX-License-Identifier: MIT
#
# A private Postfix for the guest's mail suite (test/guest/mail) and the demo
# (scripts/demo-mail.sh): Debian's own postfix package, unpatched, with its
# configuration, queue and mailboxes in one throwaway directory.  Source it
# (bash), set the MAIL_* variables you need, then `mail_setup` and
# `mail_start`.
#
#   MAIL_DIR      the instance's directory (default /tmp/ffwall-mail):
#                 conf/ (main.cf, master.cf, aliases), spool/ (queue), data/,
#                 mbox/<user> (delivered mail, mbox format)
#   MAIL_LISTEN   the address smtpd listens on (default 10.88.0.1; peers_setup's)
#   MAIL_PORT     its port (default 25)
#   MAIL_DOMAIN   the domain it accepts mail for (default mail.example.test)
#   MAIL_USERS    the only known recipients (default "alice bob"); any other
#                 local part is refused at RCPT with 550 5.1.1 "User unknown in
#                 local recipient table"
#   MAIL_POLICY   the policy service, e.g. inet:127.0.0.1:10031 or
#                 unix:/run/ffwall/policy.sock (empty: none)
#   MAIL_LOG      the mail log file, written by postlogd
#                 (default /var/log/ffwall-test/mail.log)
#
# Choices, and why:
# - chroot is off for every service ("n" in master.cf's fifth column).  A
#   chrooted smtpd needs copies of /etc/services, resolv.conf, the NSS
#   libraries and, for a unix-socket policy service, the socket inside the
#   queue directory; Debian's init script makes those copies, `postfix start`
#   does not.  Nothing the tests check depends on the chroot.
# - No DNS at all: the guest has none.  smtpd_peername_lookup=no (clients
#   are logged as "unknown[ADDR]", the way a client without a PTR record
#   is), smtp_dns_support_level=disabled, smtp(8)/lmtp(8) host lookups
#   through the native resolver only (they never run here: nothing is relayed).
# - smtpd_delay_reject=yes (Postfix's default, kept explicit): client and
#   HELO restrictions are evaluated at RCPT, where the policy service is
#   called (check_policy_service first in smtpd_recipient_restrictions, so a
#   banned client is refused for known and unknown recipients alike).
# - Known users are aliases to files: local(8) appends each message to
#   mbox/<user> as default_privs (nobody), so no system accounts are needed.
#   local_recipient_maps is the alias map, so only those users exist.
# - mynetworks is loopback only: the peers are strangers, as on the Internet.
# - smtpd_error_sleep_time=0: Postfix's 1 s pause after each rejected command
#   would only slow the spam loops down (the soft/hard error limits stay).
# - The policy service is called as docs/postfix.md's main.cf snippet does:
#   it fails open (default_action=DUNNO, timeout=10s), as the docs recommend and `ffwall postfix check` checks: a daemon
#   that is down must not stop mail.  The tests still see a broken policy
#   service: what they expect from it is a refusal.
# - The log goes to MAIL_LOG through postlogd (maillog_file, Postfix 3.4+):
#   there is no syslog daemon in the guest.
MAIL_DIR=${MAIL_DIR:-/tmp/ffwall-mail}
MAIL_LISTEN=${MAIL_LISTEN:-10.88.0.1}
MAIL_PORT=${MAIL_PORT:-25}
MAIL_DOMAIN=${MAIL_DOMAIN:-mail.example.test}
MAIL_USERS=${MAIL_USERS:-alice bob}
MAIL_POLICY=${MAIL_POLICY:-}
MAIL_LOG=${MAIL_LOG:-/var/log/ffwall-test/mail.log}

_mail_conf() { echo "$MAIL_DIR/conf"; }

# mail_setup: writes the instance (any previous one in MAIL_DIR is removed).
mail_setup() {
	local conf spool data mbox u restrictions
	conf=$(_mail_conf)
	spool=$MAIL_DIR/spool
	data=$MAIL_DIR/data
	mbox=$MAIL_DIR/mbox
	mail_stop 2>/dev/null
	rm -rf "$MAIL_DIR"
	mkdir -p "$conf" "$spool" "$data" "$mbox" "$(dirname "$MAIL_LOG")" || return 1
	chmod 755 "$MAIL_DIR" "$conf"
	chmod 1777 "$mbox"
	chown postfix "$data" || return 1
	: >"$MAIL_LOG"
	: >"$conf/aliases"
	for u in $MAIL_USERS; do
		echo "$u $mbox/$u" >>"$conf/aliases"
		: >"$mbox/$u"
		chmod 666 "$mbox/$u"
	done
	# The policy service first: a banned client is refused whatever it sends.
	restrictions="permit_mynetworks, reject_unauth_destination"
	[ -z "$MAIL_POLICY" ] ||
		restrictions="check_policy_service { $MAIL_POLICY, default_action=DUNNO, timeout=10s }, $restrictions"
	cat >"$conf/main.cf" <<EOF
# Written by test/guest/lib-postfix.sh (ffwall's guest tests and demo).
compatibility_level = 3.6
queue_directory = $spool
data_directory = $data
mail_owner = postfix
setgid_group = postdrop
myhostname = $MAIL_DOMAIN
mydomain = ${MAIL_DOMAIN#*.}
myorigin = \$myhostname
mydestination = \$myhostname, localhost
mynetworks = 127.0.0.0/8
inet_interfaces = $MAIL_LISTEN
inet_protocols = ipv4
smtpd_banner = \$myhostname ESMTP ffwall-test
biff = no
readme_directory = no
smtputf8_enable = no
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtp_host_lookup = native
lmtp_host_lookup = native
smtpd_delay_reject = yes
smtpd_error_sleep_time = 0
alias_maps = texthash:$conf/aliases
alias_database =
local_recipient_maps = \$alias_maps
allow_mail_to_files = alias
default_privs = nobody
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = $restrictions
maillog_file = $MAIL_LOG
maillog_file_prefixes = $(dirname "$MAIL_LOG")
EOF
	# Only the services a receiving-and-local-delivery Postfix uses; chroot off (above).
	local service=smtp
	[ "$MAIL_PORT" = 25 ] || service=$MAIL_LISTEN:$MAIL_PORT
	printf '%s\n' '# service type  private unpriv  chroot  wakeup  maxproc command' \
		"$service inet  n       -       n       -       -       smtpd" >"$conf/master.cf"
	cat >>"$conf/master.cf" <<'EOF'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

# mail_start: starts the instance and waits until smtpd answers on
# MAIL_PORT.  MAIL_START_WRAP, when set, is a command that runs `postfix
# start` (its arguments appended), e.g. one that gives Postfix its own
# mount namespace and resolv.conf (test/guest/postfix-capture).
mail_start() {
	local i
	${MAIL_START_WRAP:-} postfix -c "$(_mail_conf)" start </dev/null >/dev/null 2>&1 || {
		${MAIL_START_WRAP:-} postfix -c "$(_mail_conf)" start
		return 1
	}
	for i in $(seq 1 100); do
		mail_listening && return 0
		sleep 0.2
	done
	echo "lib-postfix: smtpd does not listen on $MAIL_LISTEN:$MAIL_PORT" >&2
	return 1
}

# mail_listening: whether something listens on MAIL_LISTEN:MAIL_PORT.
mail_listening() { ss -Hltn "src $MAIL_LISTEN:$MAIL_PORT" 2>/dev/null | grep -q LISTEN; }

mail_stop() {
	[ -d "$(_mail_conf)" ] || return 0
	postfix -c "$(_mail_conf)" stop >/dev/null 2>&1
	true
}

# mail_delivered USER: how many messages USER's mailbox holds.
mail_delivered() {
	local f=$MAIL_DIR/mbox/$1
	[ -e "$f" ] || {
		echo 0
		return
	}
	grep -c '^From ' "$f" || true
}

# mail_wait_delivered USER N [SECONDS]: waits until USER has N messages
# (delivery is asynchronous: smtpd queues, qmgr and local deliver).
mail_wait_delivered() {
	local u=$1 n=$2 s=${3:-30} i
	for i in $(seq 1 $((s * 5))); do
		[ "$(mail_delivered "$u")" -ge "$n" ] && return 0
		sleep 0.2
	done
	return 1
}

# ---- A plain TCP service on port 80 -----------------------------------------

# http_start ADDR [PORT]: busybox httpd serving one page, in the background
# (its PID in MAIL_DIR/httpd.pid, for http_stop).
http_start() {
	local addr=$1 port=${2:-80}
	mkdir -p "$MAIL_DIR/www"
	echo "ffwall test page" >"$MAIL_DIR/www/index.html"
	# Its stdio away from the caller's: a pipe left open would keep a caller
	# that waits for the end of our output (execFileSync) waiting forever.
	busybox httpd -f -p "$addr:$port" -h "$MAIL_DIR/www" </dev/null >/dev/null 2>&1 &
	echo $! >"$MAIL_DIR/httpd.pid"
}

http_stop() {
	[ -e "$MAIL_DIR/httpd.pid" ] || return 0
	kill "$(cat "$MAIL_DIR/httpd.pid")" 2>/dev/null
	rm -f "$MAIL_DIR/httpd.pid"
	true
}
