// SPDX-License-Identifier: MIT
/*
 * kprofile.so: a QEMU TCG plugin that profiles the guest kernel by counting
 * the instructions each translation block at a kernel address executes,
 * between two marks.  Guest `perf` is unreliable under TCG (cpu-clock
 * sampling lands after long helpers, `rep stos` hides its cost); counted
 * instructions are exact and independent of time.
 *
 *   qemu-system-x86_64 ... -accel tcg,thread=single \
 *       -plugin build/tools/kprofile.so,out=/path/kprofile.log
 *
 * Every kernel block gets a counter, found by (address, length) in a hash
 * table at translation, to which the block adds its length inline each time
 * it runs (a rep-prefixed string instruction loops through its block, so
 * each iteration counts).  The counters are plain globals: run QEMU with
 * `-accel tcg,thread=single`, as for icount.so.
 *
 * The guest marks the interval with the magic no-ops of icount.c
 * (`nopl 0x4657000K(%rax)`; tools/qemu-plugin/mark.c): mark 1 zeroes every
 * counter, mark 2 writes the non-zero ones:
 *
 *   begin SEQ USER_INSNS
 *   ADDRESS INSNS            (hex address, decimal count; one per block)
 *   end SEQ
 *
 * USER_INSNS counts user-space instructions in the interval.  The host
 * attributes each block to the kernel symbol at or below its address
 * (bench/kprofile.ts, with the guest's /proc/kallsyms).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin-util.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

struct block {
	uint64_t vaddr;
	uint64_t insns;
	uint32_t n;
};

/* Open addressing over (vaddr, n); grown at half full.  Guarded by lock. */
static struct block **slots;
static size_t nslots, nused;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t user_insns;
static unsigned int seq;
static FILE *out;


static size_t slot_of(uint64_t vaddr, uint32_t n, size_t size)
{
	uint64_t h = (vaddr ^ ((uint64_t)n << 48)) * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h >> 17) & (size - 1);
}

static int grow(void)
{
	size_t size = nslots ? nslots * 2 : 1 << 16, i, j;
	struct block **s = calloc(size, sizeof(*s));

	if (!s)
		return -1;
	for (i = 0; i < nslots; i++) {
		if (!slots[i])
			continue;
		for (j = slot_of(slots[i]->vaddr, slots[i]->n, size); s[j]; j = (j + 1) & (size - 1))
			;
		s[j] = slots[i];
	}
	free(slots);
	slots = s;
	nslots = size;
	return 0;
}

/* The counter of the block (vaddr, n), made on first use; NULL on ENOMEM. */
static struct block *block_get(uint64_t vaddr, uint32_t n)
{
	struct block *b;
	size_t i;

	if (2 * (nused + 1) > nslots && grow())
		return NULL;
	for (i = slot_of(vaddr, n, nslots); slots[i]; i = (i + 1) & (nslots - 1))
		if (slots[i]->vaddr == vaddr && slots[i]->n == n)
			return slots[i];
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->vaddr = vaddr;
	b->n = n;
	slots[i] = b;
	nused++;
	return b;
}

static void on_mark(unsigned int vcpu, void *udata)
{
	unsigned int kind = (unsigned int)(uintptr_t)udata;
	size_t i;

	(void)vcpu;
	pthread_mutex_lock(&lock);
	if (kind == 1) {
		for (i = 0; i < nslots; i++)
			if (slots[i])
				slots[i]->insns = 0;
		user_insns = 0;
	} else if (kind == 2) {
		fprintf(out, "begin %u %" PRIu64 "\n", ++seq, user_insns);
		for (i = 0; i < nslots; i++)
			if (slots[i] && slots[i]->insns)
				fprintf(out, "%" PRIx64 " %" PRIu64 "\n", slots[i]->vaddr,
					slots[i]->insns);
		fprintf(out, "end %u\n", seq);
		fflush(out);
	}
	pthread_mutex_unlock(&lock);
}


static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb), i;
	uint64_t vaddr = qemu_plugin_tb_vaddr(tb);
	struct block *b;

	(void)id;
	if (vaddr >= KERNEL_BASE) {
		pthread_mutex_lock(&lock);
		b = block_get(vaddr, (uint32_t)n);
		pthread_mutex_unlock(&lock);
		if (b)
			qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
								 &b->insns, n);
		return;
	}
	for (i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
		unsigned int kind = mark_kind(insn);

		if (kind)
			qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS,
							       (void *)(uintptr_t)kind);
	}
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &user_insns, n);
}

static void on_qemu_exit(qemu_plugin_id_t id, void *udata)
{
	(void)id;
	(void)udata;
	fprintf(out, "exit %u\n", seq);
	fclose(out);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
					   int argc, char **argv)
{
	(void)info;
	out = plugin_open_out("kprofile", argc, argv);
	if (!out)
		return 1;
	if (grow()) {
		fprintf(stderr, "kprofile: out of memory\n");
		fclose(out);
		return 1;
	}
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
	qemu_plugin_register_atexit_cb(id, on_qemu_exit, NULL);
	return 0;
}
