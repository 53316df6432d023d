#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# `npm test`: install what the suite needs, build everything, then run every
# check and suite through dist/test/runner.js, which ends with the line
# "N passed, N failed".  Arguments go to the runner (--only, --kernel, --suite).
set -uo pipefail
cd "$(dirname "$0")/.."

fail_setup() {
	echo "test: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

# Debian packages: installed when root, otherwise the exact command is printed.
bash scripts/install-deps.sh ${FFWALL_DEPS_ARGS:-} || fail_setup "missing Debian packages (see above)"

# npm packages, when node_modules is missing or older than the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	npm ci --no-audit --no-fund || fail_setup "npm ci failed"
fi

npm run --silent build || fail_setup "the addon or TypeScript build failed"
exec node dist/test/runner.js "$@"
