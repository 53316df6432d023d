// SPDX-License-Identifier: MIT
/*
 * icount.so: a QEMU TCG plugin that counts the guest's executed instructions,
 * for the drop-path benchmark's time-independent measure.
 *
 *   qemu-system-x86_64 ... -accel tcg,thread=single \
 *       -plugin build/tools/icount.so,out=/path/icount.log
 *
 * Two global counters: instructions executed at kernel addresses (the upper
 * half, >= 0xffff800000000000) and all instructions.  Each translation block
 * adds its length to them inline when it starts (no helper call), so the
 * cost to emulation is small.  The counters are global, not per vCPU (API
 * version 1 has no per-vCPU inline counters): run QEMU with
 * `-accel tcg,thread=single` so that the vCPUs never add concurrently.
 *
 * The guest marks the interval it wants measured by executing a magic no-op,
 * `nopl 0x4657000K(%rax)` (bytes 0f 1f 80 0K 00 57 46), K = 1 for "begin"
 * and 2 for "end"; see tools/qemu-plugin/pktgen-burst.c.  Each time one runs,
 * the plugin appends a line to the log:
 *
 *   mark K KERNEL_INSNS ALL_INSNS
 *
 * and at exit "exit KERNEL_INSNS ALL_INSNS".  The host pairs the marks in
 * order with the guest's own record of what ran between them.  A block cut
 * short by an exception still counts whole: an over-count of a few
 * instructions per interrupt, the same for every configuration.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin-util.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

static uint64_t kernel_insns;
static uint64_t all_insns;
static FILE *out;


static void on_mark(unsigned int vcpu, void *udata)
{
	(void)vcpu;
	fprintf(out, "mark %u %" PRIu64 " %" PRIu64 "\n", (unsigned int)(uintptr_t)udata,
		kernel_insns, all_insns);
	fflush(out);
}


static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb), i;

	(void)id;
	if (qemu_plugin_tb_vaddr(tb) >= KERNEL_BASE) {
		qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
							 &kernel_insns, n);
	} else {
		/* User code only: the mark is a user-space instruction. */
		for (i = 0; i < n; i++) {
			struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
			unsigned int kind = mark_kind(insn);

			if (kind)
				qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark,
								       QEMU_PLUGIN_CB_NO_REGS,
								       (void *)(uintptr_t)kind);
		}
	}
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &all_insns, n);
}

static void on_qemu_exit(qemu_plugin_id_t id, void *udata)
{
	(void)id;
	(void)udata;
	fprintf(out, "exit %" PRIu64 " %" PRIu64 "\n", kernel_insns, all_insns);
	fclose(out);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
					   int argc, char **argv)
{
	(void)info;
	out = plugin_open_out("icount", argc, argv);
	if (!out)
		return 1;
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
	qemu_plugin_register_atexit_cb(id, on_qemu_exit, NULL);
	return 0;
}
