#!/bin/bash
# SPDX-License-Identifier: MIT
#
# What `npm start` runs inside its throwaway guest: load ffwall.ko, report
# its version through the CLI, then a short self-check.
set -eu
cd "$FFWALL_ROOT"
echo "ffwall-demo: guest kernel $(uname -r)"
insmod "$FFWALL_KO"
echo "ffwall-demo: loaded ffwall.ko; /dev/ffwall is $(stat -c '%A' /dev/ffwall)"
node bin/run.js module version
rmmod ffwall
echo "ffwall-demo: unloaded ffwall.ko cleanly"
