/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ffwall: the membership filter (FFWALL_FILTER_BLOCKED_BLOOM).
 *
 * See kmod/DESIGN-filter.md for the format, the false-positive rate, what
 * starts a flow and how the hook uses it.
 */
#ifndef _FFWALL_FILTER_H
#define _FFWALL_FILTER_H

#include <linux/types.h>

#include "uapi/ffwall.h"

struct sk_buff;

/*
 * Largest filter, bytes (struct ffwall_config.filter_max_bytes): 32 MiB,
 * 2^19 blocks.  It holds 16M members at 0.2% or 25M at 1% (1.30 bytes per
 * member at 1%).  A reload holds two filters for one grace period.
 */
#define FFWALL_FILTER_MAX_BYTES		(32U << 20)
#define FFWALL_FILTER_MAX_HASHES	16U

/* A MISS for one address is reported at most once per this many jiffies per CPU. */
#define FFWALL_FILTER_REPORT_INTERVAL	HZ
/* Slots of the per-CPU MISS rate limiter (direct-mapped, power of two). */
#define FFWALL_FILTER_REPORT_SLOTS	256

int ffwall_filter_init(void);
void ffwall_filter_exit(void);

/* Ioctls (process context, may sleep).  @arg is the user's structure. */
long ffwall_filter_ioc_load(void __user *arg);
long ffwall_filter_ioc_add(void __user *arg);

/*
 * Packet path, any context, under rcu_read_lock() (netfilter hooks run in
 * it).  No lock, no allocation.
 *
 * ffwall_filter_active - is a filter loaded?  One load of a pointer: the
 *	hook asks it first, so that a host without a filter pays nothing.
 * ffwall_filter_flow_start - does the packet start a flow?  @l4proto is the
 *	transport protocol (IPPROTO_*), @thoff the offset of its header in the
 *	skb (from skb->data).  Call it only for a first fragment.
 * ffwall_filter_probe - is @addr (16 bytes, IPv4 as ::ffff:a.b.c.d) in the
 *	loaded filter?  False when none is loaded.  Touches one cache line of
 *	the filter; counts filter_probes and filter_hits.
 * ffwall_filter_should_report - rate limit of MISS events: true at most once
 *	per FFWALL_FILTER_REPORT_INTERVAL per address and CPU.
 */
bool ffwall_filter_active(void);
bool ffwall_filter_flow_start(const struct sk_buff *skb, unsigned int thoff,
			      u8 l4proto);
bool ffwall_filter_probe(const u8 *addr);
bool ffwall_filter_should_report(const u8 *addr);

/* STATS: sums over the CPUs. */
struct ffwall_filter_stats {
	u64 probes;
	u64 hits;
	u64 reports;	/* should_report() said yes: MISS events raised */
	u64 bytes;	/* size of the loaded filter, 0: none */
	u64 members;	/* members given at load plus FILTER_ADD records */
};

void ffwall_filter_get_stats(struct ffwall_filter_stats *s);

#ifdef DEBUG
int ffwall_filter_selftest(void);
#endif

#endif /* _FFWALL_FILTER_H */
