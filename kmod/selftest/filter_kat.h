/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * ffwall: known-answer vectors of FFWALL_FILTER_BLOCKED_BLOOM, the one copy
 * that two independent implementations check themselves against: the
 * kernel's selftest (kmod/selftest/filter.c, the kernel's siphash()) and
 * the userland builder (test/tools/ffwall-filter.c, its own SipHash-2-4).
 * Each vector gives a seed and an address, the filter's size in blocks and
 * its hash count, and the expected hash, block and bit positions.
 */
#ifndef _FFWALL_FILTER_KAT_H
#define _FFWALL_FILTER_KAT_H

#include <linux/types.h>

struct ffwall_filter_kat {
	__u64 seed[2];
	__u8 addr[16];
	__u32 nblocks;
	__u32 k;
	__u64 hash;
	__u32 block;
	__u16 bit[16];		/* FFWALL_FILTER_MAX_HASHES */
};

#define FFWALL_KAT_V4(a, b, c, d)	{ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d }

static const struct ffwall_filter_kat ffwall_filter_kats[] = {
	/* The SipHash reference key and message: h is the reference vector. */
	{ { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL },
	  { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 }, 1, 16,
	  0x3f2acc7f57c29bdbULL, 0,
	  { 475, 90, 217, 344, 471, 86, 213, 340, 467, 82, 209, 336, 463, 78, 205, 332 } },
	/* b = 1 (mod 512): seven consecutive bits across a byte boundary. */
	{ { 0x0123456789abcdefULL, 0xfedcba9876543210ULL },
	  FFWALL_KAT_V4(192, 0, 2, 1), 1000, 7,
	  0xee75260199d1c09bULL, 931,
	  { 155, 156, 157, 158, 159, 160, 161 } },
	{ { 0x0123456789abcdefULL, 0xfedcba9876543210ULL },
	  { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, 1000, 7,
	  0x5004c53463f06d25ULL, 312,
	  { 293, 90, 399, 196, 505, 302, 99 } },
	/* The largest filter (32 MiB). */
	{ { 0xffffffffffffffffULL, 0 },
	  FFWALL_KAT_V4(203, 0, 113, 77), 524288, 10,
	  0xae3f0385749110f9ULL, 356856,
	  { 249, 126, 3, 392, 269, 146, 23, 412, 289, 166 } },
};

#endif /* _FFWALL_FILTER_KAT_H */
