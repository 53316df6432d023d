# SPDX-License-Identifier: MIT
#
# A real Postfix (Debian's package, test/guest/lib-postfix.sh's instance)
# configured to produce every kind of log line that ffwall's log watcher
# counts (src/lib/postfix/patterns.json), for the postfix-capture guest
# suite.  Source it after lib.sh and lib-postfix.sh, set the variables,
# then `capture_setup`, `capture_start`, and `capture_stop` at the end.
#
#   CAPTURE_DNS     the address rbldnsd answers on, port 53 (default
#                   127.0.0.153): Postfix's only name server
#   CAPTURE_ZONE    the DNS blocklist zone (default bl.ffwall.test)
#   CAPTURE_LISTED  the IPv4 addresses the zone lists
#   CAPTURE_SCREEN_PORT  the port postscreen listens on (MAIL_LISTEN's;
#                   default 2525); smtpd alone is on MAIL_PORT
#   CAPTURE_SUBMISSION_PORT  a second smtpd service (MAIL_LISTEN's; default
#                   587) logging as postfix/submission/smtpd, with the
#                   client's port (smtpd_client_port_logging), as Debian's
#                   submission service is tagged
#   CAPTURE_LISTEN6 an IPv6 address smtpd also listens on (MAIL_PORT), so
#                   that IPv6 clients are logged (empty: IPv4 only)
#
# What each kind needs, and how it is set up here:
# - rbl: smtpd_client_restrictions = reject_rbl_client CAPTURE_ZONE, a zone
#   served by a private rbldnsd.  Postfix resolves with the C library's
#   resolver, whose only configuration is /etc/resolv.conf (no port, no
#   per-program file): Postfix is started in its own mount namespace where
#   a resolv.conf naming CAPTURE_DNS is bind-mounted over /etc/resolv.conf
#   (MAIL_START_WRAP), so nothing else on the machine sees it.
# - unknown-user, relay-denied: lib-postfix.sh's defaults (local recipients
#   are the aliases; reject_unauth_destination for other domains).
# - bad-helo: reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname.
# - sasl-failed: smtpd's SASL with a real backend, Dovecot's auth service
#   (dovecot-core), run as its own instance: its own configuration file
#   (dovecot -c), base_dir, log and passwd-file, no mail protocols, the
#   auth-client socket in MAIL_DIR.  A packaged dovecot service, should one
#   run on the machine, is neither used nor disturbed.
# - postscreen on CAPTURE_SCREEN_PORT with the same zone as its DNSBL
#   (postscreen_dnsbl_sites, through dnsblog), the pregreet test and the
#   "deep protocol" tests (pipelining, non-SMTP command, bare newline), all
#   enforced; the clients it lets through go to the `smtpd` pass service.
# - Lines that must NOT count, provoked on purpose: a reject_warning
#   (warn_if_reject reject_non_fqdn_sender), postscreen's own NOQUEUE
#   reject after a DNSBL hit, an aborted SASL exchange, smtpd's "improper
#   command pipelining".
CAPTURE_DNS=${CAPTURE_DNS:-127.0.0.153}
CAPTURE_ZONE=${CAPTURE_ZONE:-bl.ffwall.test}
CAPTURE_LISTED=${CAPTURE_LISTED:-}
CAPTURE_SCREEN_PORT=${CAPTURE_SCREEN_PORT:-2525}
CAPTURE_SUBMISSION_PORT=${CAPTURE_SUBMISSION_PORT:-587}
CAPTURE_LISTEN6=${CAPTURE_LISTEN6:-}

_cap() { echo "$MAIL_DIR/capture"; }

# capture_setup: writes the Postfix instance (mail_setup), the zone and
# Dovecot's configuration.
capture_setup() {
	local d conf a
	mail_setup || return 1
	d=$(_cap)
	conf=$(_mail_conf)
	mkdir -p "$d/rbl" "$d/dovecot" || return 1
	{
		echo ":127.0.0.2:Listed by ffwall's capture test"
		for a in $CAPTURE_LISTED; do echo "$a"; done
	} >"$d/rbl/zone"
	echo "nameserver $CAPTURE_DNS" >"$d/resolv.conf"
	chmod 755 "$d" "$d/rbl"
	chmod 644 "$d/rbl/zone" "$d/resolv.conf"
	# One known SASL user; the tests only ever send a wrong password.
	echo 'alice:{PLAIN}right-password' >"$d/dovecot/passwd"
	cat >"$d/dovecot/dovecot.conf" <<EOF
# Written by test/guest/postfix-capture/lib-capture.sh: Dovecot's auth
# service only, for Postfix's smtpd SASL.
instance_name = ffwall-capture
base_dir = $d/dovecot/run
state_dir = $d/dovecot/state
log_path = $d/dovecot/dovecot.log
protocols =
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
passdb {
  driver = passwd-file
  args = $d/dovecot/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  unix_listener $d/dovecot/auth-client {
    mode = 0666
  }
}
EOF
	postconf -c "$conf" -e \
		"smtpd_helo_required = yes" \
		"smtpd_client_restrictions = reject_rbl_client $CAPTURE_ZONE" \
		"smtpd_helo_restrictions = reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname" \
		"smtpd_sender_restrictions = warn_if_reject reject_non_fqdn_sender" \
		"smtpd_sasl_auth_enable = yes" \
		"smtpd_sasl_type = dovecot" \
		"smtpd_sasl_path = $d/dovecot/auth-client" \
		"smtpd_sasl_security_options = noanonymous" \
		"postscreen_dnsbl_sites = $CAPTURE_ZONE*3" \
		"postscreen_dnsbl_threshold = 3" \
		"postscreen_dnsbl_action = enforce" \
		"postscreen_greet_action = enforce" \
		"postscreen_greet_wait = 2s" \
		"postscreen_pipelining_enable = yes" \
		"postscreen_pipelining_action = enforce" \
		"postscreen_non_smtp_command_enable = yes" \
		"postscreen_non_smtp_command_action = drop" \
		"postscreen_bare_newline_enable = yes" \
		"postscreen_bare_newline_action = enforce" || return 1
	postconf -c "$conf" -M \
		"$MAIL_LISTEN:$CAPTURE_SCREEN_PORT/inet = $MAIL_LISTEN:$CAPTURE_SCREEN_PORT inet n - n - 1 postscreen" \
		"smtpd/pass = smtpd pass - - n - - smtpd" \
		"dnsblog/unix = dnsblog unix - - n - 0 dnsblog" \
		"tlsproxy/unix = tlsproxy unix - - n - 0 tlsproxy" \
		"$MAIL_LISTEN:$CAPTURE_SUBMISSION_PORT/inet = $MAIL_LISTEN:$CAPTURE_SUBMISSION_PORT inet n - n - - smtpd -o syslog_name=postfix/submission -o smtpd_client_port_logging=yes" ||
		return 1
	if [ -n "$CAPTURE_LISTEN6" ]; then
		postconf -c "$conf" -e "inet_protocols = all" "inet_interfaces = $MAIL_LISTEN, [$CAPTURE_LISTEN6]" || return 1
	fi
}

# capture_start: rbldnsd, Dovecot, then Postfix (with its own resolv.conf).
capture_start() {
	local d i
	d=$(_cap)
	rbldnsd -u nobody -b "$CAPTURE_DNS/53" -w "$d/rbl" -p "$d/rbl/pid" \
		"$CAPTURE_ZONE:ip4set:zone" </dev/null >/dev/null 2>&1 || {
		echo "lib-capture: rbldnsd does not start" >&2
		return 1
	}
	dovecot -c "$d/dovecot/dovecot.conf" </dev/null >/dev/null 2>&1 || {
		dovecot -c "$d/dovecot/dovecot.conf"
		return 1
	}
	for i in $(seq 1 50); do
		[ -S "$d/dovecot/auth-client" ] && break
		sleep 0.1
	done
	[ -S "$d/dovecot/auth-client" ] || {
		echo "lib-capture: no Dovecot auth socket" >&2
		return 1
	}
	MAIL_START_WRAP="unshare -m --propagation private bash $(capture_lib_dir)/with-resolv.sh $d/resolv.conf" mail_start
}

capture_lib_dir() { (cd "$(dirname "${BASH_SOURCE[0]}")" && pwd); }

capture_stop() {
	local d
	d=$(_cap)
	mail_stop
	[ -e "$d/dovecot/dovecot.conf" ] && dovecot -c "$d/dovecot/dovecot.conf" stop >/dev/null 2>&1
	[ -e "$d/rbl/pid" ] && kill "$(cat "$d/rbl/pid")" 2>/dev/null
	true
}
