/* SPDX-License-Identifier: MIT */
/*
 * What the project's TCG plugins (icount.c, kprofile.c) share: the guest's
 * magic no-op marks and the plugin's out= argument.
 */
#ifndef FFWALL_QEMU_PLUGIN_UTIL_H
#define FFWALL_QEMU_PLUGIN_UTIL_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "qemu-plugin-api.h"

#define KERNEL_BASE 0xffff800000000000ULL
#define MARK_LEN 7

/*
 * The mark's kind (1..255) of `nopl 0x4657000K(%rax)` (bytes 0f 1f 80 0K 00
 * 57 46), or 0 if @insn is not a mark.
 */
static inline unsigned int mark_kind(const struct qemu_plugin_insn *insn)
{
	static const unsigned char prefix[3] = { 0x0f, 0x1f, 0x80 };
	const unsigned char *b = qemu_plugin_insn_data(insn);

	if (qemu_plugin_insn_size(insn) != MARK_LEN || memcmp(b, prefix, 3))
		return 0;
	if (b[4] != 0x00 || b[5] != 0x57 || b[6] != 0x46)
		return 0;
	return b[3];
}

/* The log named by the plugin's out=FILE argument, opened for writing; NULL after a message. */
static inline FILE *plugin_open_out(const char *name, int argc, char **argv)
{
	const char *path = NULL;
	FILE *f;
	int i;

	for (i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "out=", 4))
			path = argv[i] + 4;
	}
	if (!path) {
		fprintf(stderr, "%s: usage: -plugin %s.so,out=FILE\n", name, name);
		return NULL;
	}
	f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "%s: %s: %s\n", name, path, strerror(errno));
	return f;
}

#endif
