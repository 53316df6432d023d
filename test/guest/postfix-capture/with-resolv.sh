# SPDX-License-Identifier: MIT
#
# with-resolv.sh RESOLV_CONF COMMAND...: runs COMMAND with RESOLV_CONF
# bind-mounted over /etc/resolv.conf.  Meant to run under
# `unshare -m --propagation private` (lib-capture.sh), so that only COMMAND
# and its children (a Postfix master and its daemons) see it.
set -e
conf=$1
shift
mount --bind "$conf" /etc/resolv.conf
exec "$@"
