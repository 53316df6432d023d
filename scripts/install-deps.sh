#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Install the Debian packages that building and testing ffwall needs.
#
#   scripts/install-deps.sh              base set: toolchain, QEMU, Debian 12's default kernel
#   scripts/install-deps.sh --backports  also the 6.12 kernel + headers from bookworm-backports
#   scripts/install-deps.sh --check      print what is missing, install nothing
#
# When not run as root it installs nothing and prints the exact command to run.
set -euo pipefail

# tmux: `ffwall top` is tested in a real terminal; rbldnsd and dnsutils (dig):
# the rbldnsd export is served and queried on loopback (test/host/cli-*.test.ts).
# systemd: systemd-analyze verifies packaging/ffwall.service in the host tests
# (priority important, so a standard Debian 12 has it; minimal images do not).
# dovecot-core: smtpd's SASL backend in the postfix-capture guest suite, which
# runs its own Dovecot instance (dovecot -c, its own base_dir and sockets).
# dovecot-core alone has no mail protocols (those are dovecot-imapd,
# -pop3d, ...), so a packaged dovecot.service, where systemd starts it,
# listens on no network port; the suite neither uses nor disturbs it.
BASE_PKGS=(
	build-essential bc kmod cpio xz-utils zstd
	qemu-system-x86 busybox-static
	linux-image-amd64 linux-headers-amd64
	sparse iproute2 util-linux linux-source-6.1
	nftables ipset iptables dkms e2fsprogs
	gcc-multilib
	systemd
	tmux rbldnsd dnsutils
	postfix swaks fail2ban dovecot-core
)

want_backports=0
check_only=0
for a in "$@"; do
	case "$a" in
	--backports) want_backports=1 ;;
	--check) check_only=1 ;;
	*) echo "install-deps: unknown argument '$a'" >&2; exit 2 ;;
	esac
done

missing=()
for p in "${BASE_PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

have_612() { compgen -G '/lib/modules/6.12.*/build' >/dev/null; }
need_bp=0
if [ "$want_backports" = 1 ] && ! have_612; then need_bp=1; fi

if [ ${#missing[@]} -eq 0 ] && [ "$need_bp" = 0 ]; then
	exit 0
fi

if [ "$check_only" = 1 ] || [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing Debian packages: ${missing[*]:-}${need_bp:+ }$( [ "$need_bp" = 1 ] && echo '(6.12 kernel from bookworm-backports)')" >&2
	echo "install-deps: run as root: sudo $(cd "$(dirname "$0")" && pwd)/install-deps.sh $*" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -o Dpkg::Use-Pty=0 -q "$@"; }

if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	apt_get update >/dev/null
	apt_get install -y --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$need_bp" = 1 ]; then
	# Keep Debian 12's default kernel when the metapackage moves to 6.12.
	for p in $(dpkg-query -W -f='${Package}\n' 'linux-image-6.1.*' 'linux-headers-6.1.*' 2>/dev/null); do
		apt-mark manual "$p" >/dev/null
	done
	src=/etc/apt/sources.list.d/ffwall-bookworm-backports.sources
	if [ ! -e "$src" ]; then
		uri=$(awk '/^URIs:/ && /debian$/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
		[ -n "$uri" ] || uri=http://deb.debian.org/debian
		cat >"$src" <<SRC
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	fi
	echo "install-deps: installing the 6.12 kernel and headers from bookworm-backports"
	apt_get update >/dev/null
	apt_get install -y --no-install-recommends -t bookworm-backports \
		linux-image-amd64 linux-headers-amd64 >/dev/null
fi
