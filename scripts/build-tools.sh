#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Build the C test tools (test/tools/*.c) on the host into build/tools/, for
# the guest suites to run.  Warnings are errors.  They include the uapi header
# from kmod/uapi/, so the ABI has one source.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/tools
mkdir -p "$out"
for src in "$top"/test/tools/*.c; do
	[ -e "$src" ] || continue
	bin=$out/$(basename "$src" .c)
	if [ "$bin" -nt "$src" ] && [ "$bin" -nt "$top/kmod/uapi/ffwall.h" ]; then
		continue
	fi
	gcc -O2 -g -std=gnu11 -Wall -Wextra -Werror -I"$top/kmod" -o "$bin" "$src"
done
