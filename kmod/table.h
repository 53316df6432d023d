/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ffwall: the exact-address table.
 *
 * See table.c for the locking rules and kmod/DESIGN.md for the design.
 */
#ifndef _FFWALL_TABLE_H
#define _FFWALL_TABLE_H

#include <asm/byteorder.h>
#include <linux/bits.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/seqlock.h>
#include <linux/siphash.h>
#include <linux/timekeeping.h>
#include <linux/types.h>
#include <linux/workqueue.h>

#include "uapi/ffwall.h"

/* A 16-byte address, network byte order, IPv4 as ::ffff:a.b.c.d. */
struct ffwall_key {
	u64 w[2];
};

/* Is @k an IPv4 address (::ffff:0:0/96)?  Its address is then word 3. */
static inline bool ffwall_key_v4(const struct ffwall_key *k)
{
	const __be32 *a = (const __be32 *)k;

	return !k->w[0] && a[2] == htonl(0xffff);
}

static inline u32 ffwall_key_word(const struct ffwall_key *k, unsigned int i)
{
	return ((const u32 *)k)[i];
}

/* The IPv4 address of a v4-mapped key, in host order. */
static inline u32 ffwall_key_v4addr(const struct ffwall_key *k)
{
	return be32_to_cpu(((const __be32 *)k)[3]);
}

static inline void ffwall_key_set_v4(struct ffwall_key *k, u32 addr)
{
	__be32 *a = (__be32 *)k;

	k->w[0] = 0;
	a[2] = htonl(0xffff);
	a[3] = cpu_to_be32(addr);
}

/*
 * One exact entry: 40 bytes, in its own kmem_cache.  No rcu_head: entries
 * are unlinked under the writer mutex and freed in batches after a grace
 * period (struct ffwall_reaper, reap.h).
 */
struct ffwall_entry {
	struct ffwall_entry __rcu *next;
	struct ffwall_key key;
	u32 expires;		/* boottime seconds, 0: never */
	u32 last_hit;		/* boottime seconds, 0: never; packet path */
	u32 hits;		/* packet path, approximate */
	u16 portset;		/* 0: whole address, else a port set id */
	u8 flags;		/* FFWALL_F_* */
	u8 ref;			/* CLOCK reference bit; packet path sets it */
};

struct ffwall_buckets {
	unsigned int bits;
	struct ffwall_entry __rcu *b[];
};

/* An interned, sorted set of destination ports.  Id 0 is never used. */
struct ffwall_portset {
	u16 ports[FFWALL_MAX_PORTS];
	u8 n;
	u8 state;
	u16 reserved;
	u32 refs;
};

/* A validated ADD record. */
struct ffwall_add {
	struct ffwall_key key;
	u16 ports[FFWALL_MAX_PORTS];	/* sorted, deduplicated; [nports..] unset */
	u8 nports;
	u8 flags;
	u32 ttl;
};

struct ffwall_table_stats {
	u64 entries, pinned, buckets, portsets;
	u64 inserted, deleted, evicted, expired, resizes;
	u64 bytes, entry_size;
};

struct ffwall_pset;

struct ffwall_table {
	/* Writers: see "Locking" in table.c. */
	struct mutex lock;
	seqcount_t seq;
	struct ffwall_buckets __rcu *cur;
	struct ffwall_buckets __rcu *old;
	hsiphash_key_t hkey;	/* random, fixed for the table's life */
	struct ffwall_portset *portsets;
	u32 max_entries;
	u32 count;
	u32 pinned;
	u32 nportsets;
	u32 zombie_portsets;
	u32 last_portset;
	u32 gc_interval;
	u32 grow_backoff;
	u32 reserve_hold;	/* no shrinking before this time (RESERVE) */
	u64 hand;
	u64 inserted, deleted, evicted, expired, resizes;
	u8 mode;		/* FFWALL_MODE_*; read by the packet path */
	struct ffwall_pset *ban;	/* ban prefixes; writers hold @lock */
	struct ffwall_pset *allow;	/* the allowlist; its own mutex */
	bool dying;
	struct delayed_work gc_work;
#ifdef DEBUG
	u32 fake_now;		/* selftests: the clock, when non-zero */
#endif
};

/* Result of matching a source address (and maybe a port) on the packet path. */
enum ffwall_match {
	FFWALL_M_NONE,
	FFWALL_M_WHOLE,		/* whole-address entry */
	FFWALL_M_PORTS,		/* port-scoped entry, the port is in its set */
	FFWALL_M_PORTS_MISS,	/* port-scoped entry, port not in set / unknown */
};

int ffwall_table_module_init(void);
void ffwall_table_module_exit(void);

struct ffwall_table *ffwall_table_create(u32 max_entries, u32 gc_interval);
void ffwall_table_destroy(struct ffwall_table *t);

static inline u32 ffwall_table_now(const struct ffwall_table *t)
{
#ifdef DEBUG
	if (t->fake_now)
		return READ_ONCE(t->fake_now);
#endif
	return (u32)ktime_get_boottime_seconds();
}

/*
 * The table's clock, read at most once and only on first need: a packet
 * that no entry matches never reads it.
 */
struct ffwall_clock {
	const struct ffwall_table *t;
	u32 now;
	bool read;
};

static inline u32 ffwall_clock_now(struct ffwall_clock *c)
{
	if (!c->read) {
		c->now = ffwall_table_now(c->t);
		c->read = true;
	}
	return c->now;
}

/*
 * hsiphash (SipHash-1-3 on 64-bit kernels, HalfSipHash elsewhere) with a
 * random key per table: the kernel's keyed hash for hash tables, half the
 * rounds of SipHash-2-4.  Its output never leaves the kernel except as the
 * DUMP order, which only CAP_NET_ADMIN sees, so it needs no more than
 * resistance to chosen-address flooding of one chain.  An IPv4 key hashes
 * its 4 address bytes, any other key its 16; the length in SipHash's last
 * block keeps the two apart.  The 32-bit hash is the top half of a u64 so
 * that positions in hash space (the CLOCK hand, bucket ranges, the DUMP
 * order) keep their meaning.  It is a pure function of the key for the
 * table's life, which DUMP's cursor relies on.
 */
static inline u64 ffwall_hash(const struct ffwall_table *t, const struct ffwall_key *k)
{
	u32 h;

	if (ffwall_key_v4(k))
		h = hsiphash_1u32(ffwall_key_word(k, 3), &t->hkey);
	else
		h = hsiphash_4u32(ffwall_key_word(k, 0), ffwall_key_word(k, 1),
				  ffwall_key_word(k, 2), ffwall_key_word(k, 3), &t->hkey);
	return (u64)h << 32;
}

/* Buckets are ordered by hash: a bucket index is the top bits of the hash. */
static inline u32 ffwall_bucket(const struct ffwall_buckets *bk, u64 h)
{
	return h >> (64 - bk->bits);
}

static inline bool ffwall_key_eq(const struct ffwall_key *a, const struct ffwall_key *b)
{
	return a->w[0] == b->w[0] && a->w[1] == b->w[1];
}

static inline bool ffwall_expired(const struct ffwall_entry *e, u32 now)
{
	u32 exp = READ_ONCE(e->expires);

	return exp && now >= exp;
}

static inline struct ffwall_entry *ffwall_chain_find_rcu(struct ffwall_buckets *bk,
							 const struct ffwall_key *key, u64 h)
{
	struct ffwall_entry *e;

	for (e = rcu_dereference(bk->b[ffwall_bucket(bk, h)]); e;
	     e = rcu_dereference(e->next))
		if (ffwall_key_eq(&e->key, key))
			return e;
	return NULL;
}

/*
 * Packet path: caller holds rcu_read_lock(); returns a live entry or NULL.
 * Inline: the hook calls it for every packet.
 */
static inline struct ffwall_entry *
ffwall_table_lookup_clock_rcu(struct ffwall_table *t, const struct ffwall_key *key,
			      struct ffwall_clock *c)
{
	u64 h = ffwall_hash(t, key);
	struct ffwall_buckets *bk;
	struct ffwall_entry *e;
	unsigned int seq;

	do {
		seq = read_seqcount_begin(&t->seq);
		e = ffwall_chain_find_rcu(rcu_dereference(t->cur), key, h);
		if (!e) {
			bk = rcu_dereference(t->old);
			if (bk)
				e = ffwall_chain_find_rcu(bk, key, h);
		}
	} while (!e && read_seqcount_retry(&t->seq, seq));

	if (e && ffwall_expired(e, ffwall_clock_now(c)))
		return NULL;
	return e;
}

struct ffwall_entry *ffwall_table_lookup_rcu(struct ffwall_table *t,
					     const struct ffwall_key *key, u32 now);
bool ffwall_table_port_match(const struct ffwall_table *t, u16 portset,
			     u16 port);
void ffwall_table_hit(struct ffwall_entry *e, u32 now);

int ffwall_table_check_rule(const struct ffwall_rule *r);
int ffwall_table_parse_rule(const struct ffwall_rule *r, struct ffwall_add *a);
void ffwall_table_fill_rule(const struct ffwall_rule *r, struct ffwall_add *a);
int ffwall_table_parse_del(const struct ffwall_rule *r, struct ffwall_key *key);

/* Writers (process context, may sleep). */
int ffwall_table_add(struct ffwall_table *t, const struct ffwall_add *recs,
		     u32 n, u32 *applied, u32 *changed);
int ffwall_table_reserve(struct ffwall_table *t, u32 n, unsigned int min_doublings,
			 u64 *buckets);
int ffwall_table_del(struct ffwall_table *t, const struct ffwall_key *keys,
		     u32 n, u32 *applied, u32 *changed);
int ffwall_table_flush(struct ffwall_table *t, u8 with_flags, u64 *removed);
int ffwall_table_set_max(struct ffwall_table *t, u32 max_entries);
void ffwall_table_set_gc_interval(struct ffwall_table *t, u32 secs);
void ffwall_table_gc(struct ffwall_table *t);

int ffwall_table_prefixes_init(struct ffwall_table *t, u32 max_prefixes, u32 max_allow);
void ffwall_table_prefixes_exit(struct ffwall_table *t);

/* LOOKUP: fills @info (zeroed when no live entry); returns true on a match. */
bool ffwall_table_info(struct ffwall_table *t, const struct ffwall_key *key,
		       struct ffwall_entry_info *info, u32 *now);
/*
 * DUMP: up to @max records into @out from *@cursor (below 2^63); returns
 * the count.  *@cursor is FFWALL_TABLE_DUMP_END once the walk is over.
 */
#define FFWALL_TABLE_DUMP_END	BIT_ULL(63)
u32 ffwall_table_dump(struct ffwall_table *t, struct ffwall_entry_info *out,
		      u32 max, u64 *cursor, u64 hit_since);
void ffwall_table_get_stats(struct ffwall_table *t, struct ffwall_table_stats *s);

#ifdef DEBUG
int ffwall_table_selftest(void);
#endif

#endif /* _FFWALL_TABLE_H */
