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

# abi-test once more as a 32-bit static binary, for the compat ioctl path
# (compat_ptr_ioctl) on a 64-bit kernel.  Needs gcc-multilib.
src=$top/test/tools/abi-test.c
bin=$out/abi-test32
if ! { [ "$bin" -nt "$src" ] && [ "$bin" -nt "$top/kmod/uapi/ffwall.h" ]; }; then
	gcc -m32 -static -O2 -g -std=gnu11 -Wall -Wextra -Werror -I"$top/kmod" -o "$bin" "$src"
fi

# The drop-path benchmark's instruction counter: a QEMU TCG plugin (host
# side, loaded with -plugin) and the guest tool that marks a pktgen burst
# for it.  See tools/qemu-plugin/icount.c and bench/README.md.
qp=$top/tools/qemu-plugin
if ! { [ "$out/icount.so" -nt "$qp/icount.c" ] && [ "$out/icount.so" -nt "$qp/qemu-plugin-api.h" ] && [ "$out/icount.so" -nt "$qp/plugin-util.h" ]; }; then
	gcc -shared -fPIC -fvisibility=hidden -O2 -g -std=gnu11 -Wall -Wextra -Werror \
		-o "$out/icount.so" "$qp/icount.c"
fi
if ! { [ "$out/kprofile.so" -nt "$qp/kprofile.c" ] && [ "$out/kprofile.so" -nt "$qp/qemu-plugin-api.h" ] && [ "$out/kprofile.so" -nt "$qp/plugin-util.h" ]; }; then
	gcc -shared -fPIC -fvisibility=hidden -O2 -g -std=gnu11 -Wall -Wextra -Werror \
		-o "$out/kprofile.so" "$qp/kprofile.c" -lpthread
fi
if ! [ "$out/mark" -nt "$qp/mark.c" ]; then
	gcc -O2 -g -std=gnu11 -Wall -Wextra -Werror -o "$out/mark" "$qp/mark.c"
fi
if ! [ "$out/pktgen-burst" -nt "$qp/pktgen-burst.c" ]; then
	gcc -O2 -g -std=gnu11 -Wall -Wextra -Werror -o "$out/pktgen-burst" "$qp/pktgen-burst.c"
fi

# The benchmarks' loader of IPv6 addresses and prefixes (bench/guest/*.sh).
src=$top/tools/bench/ffwall-load.c
if ! { [ "$out/ffwall-load" -nt "$src" ] && [ "$out/ffwall-load" -nt "$top/kmod/uapi/ffwall.h" ]; }; then
	gcc -O2 -g -std=gnu11 -Wall -Wextra -Werror -I"$top/kmod" -o "$out/ffwall-load" "$src"
fi
