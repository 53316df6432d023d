#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Run the kernel's checkpatch.pl --strict over the module's sources
# (kmod/**/*.c, kmod/**/*.h); any error, warning or check fails.
#
# checkpatch.pl is not in the headers packages.  It ships in Debian's
# linux-source-6.1 (a tarball under /usr/src, see scripts/install-deps.sh);
# the three files it needs are extracted once into build/checkpatch/.
#
# Ignored checks, and why: only BIT_MACRO, and only for kmod/uapi/: a uapi
# header cannot use BIT() (it is not exported to userland), and checkpatch
# exempts include/uapi/ from that check by path, which kmod/uapi/ is not.
# Everything else runs.  --no-tree: there is no kernel tree around the module.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cp_dir=$top/build/checkpatch
tarball=$(ls /usr/src/linux-source-6.1*.tar.* 2>/dev/null | head -n 1 || true)

if [ ! -x "$cp_dir/checkpatch.pl" ]; then
	if [ -z "$tarball" ]; then
		echo "checkpatch: no /usr/src/linux-source-6.1 tarball;" \
			"apt-get install --no-install-recommends linux-source-6.1" >&2
		exit 1
	fi
	mkdir -p "$cp_dir"
	inner=$(basename "$tarball" | sed 's/\.tar\..*//')
	tar -xf "$tarball" -C "$cp_dir" --strip-components=2 \
		"$inner/scripts/checkpatch.pl" "$inner/scripts/spelling.txt" \
		"$inner/scripts/const_structs.checkpatch"
	chmod +x "$cp_dir/checkpatch.pl"
fi

cd "$top"
mapfile -t files < <(find kmod -type f \( -name '*.c' -o -name '*.h' \) -not -path 'kmod/uapi/*' | sort)
mapfile -t uapi < <(find kmod/uapi -type f -name '*.h' | sort)
cp_run() { "$cp_dir/checkpatch.pl" --no-tree --strict --terse --show-types "$@" 2>&1 || true; }
out=$(cp_run -f "${files[@]}"; cp_run --ignore BIT_MACRO -f "${uapi[@]}")
echo "$out" | grep -E ': (ERROR|WARNING|CHECK):' || true
if echo "$out" | grep -qE ': (ERROR|WARNING|CHECK):'; then
	echo "checkpatch: problems found" >&2
	exit 1
fi
echo "checkpatch: $((${#files[@]} + ${#uapi[@]})) files clean"
