/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ffwall: prefix sets, used twice: the ban prefixes and the allowlist.
 *
 * See kmod/DESIGN-prefix.md for the design and prefix.c for the code.
 */
#ifndef _FFWALL_PREFIX_H
#define _FFWALL_PREFIX_H

#include <linux/bitops.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/siphash.h>
#include <linux/types.h>

#include "uapi/ffwall.h"
/* struct ffwall_key and struct ffwall_add come from the exact table. */
#include "reap.h"
#include "table.h"

/* Prefix lengths 0..128 of the 128-bit space. */
#define FFWALL_PFX_NLENS	129
#define FFWALL_PFX_LEN_WORDS	BITS_TO_LONGS(FFWALL_PFX_NLENS)

/* Range and defaults of the max_prefixes and max_allow module parameters. */
#define FFWALL_PFX_MAX_MIN	1U
#define FFWALL_PFX_MAX_MAX	1048576U	/* 2^20 */
#define FFWALL_PFX_MAX_DEFAULT	65536U

/*
 * Dump cursors of a prefix set are below 2^61 while the walk goes on and
 * FFWALL_PSET_DUMP_END (2^61) when it is over: the three top bits of a u64
 * cursor are free for the caller to tell the phases of FFWALL_IOC_DUMP, and
 * no tagged cursor can equal FFWALL_DUMP_END.
 */
#define FFWALL_PSET_CURSOR_BITS	61
#define FFWALL_PSET_DUMP_END	BIT_ULL(FFWALL_PSET_CURSOR_BITS)

/*
 * One entry: a prefix (or, in the allowlist, also an exact address), 40
 * bytes in the ffwall_prefix kmem_cache.  No rcu_head: entries are freed in
 * batches after a grace period.  Allowlist entries leave expires, portset
 * and flags at zero.
 */
struct ffwall_pfx {
	struct ffwall_pfx __rcu *next;	/* chain, sorted by hash */
	struct ffwall_key key;		/* masked to @len */
	u32 expires;			/* boottime seconds, 0: never */
	u32 last_hit;			/* packet path, racy; 0: never */
	u32 hits;			/* packet path, racy, approximate */
	u16 portset;			/* 0: whole range, else a port set id */
	u8 flags;			/* FFWALL_F_* */
	u8 len;				/* prefix length, 0..128 */
};

/* A validated ADD or ALLOW_ADD record (ffwall_prefix_parse_rule() etc.). */
struct ffwall_pfx_add {
	struct ffwall_key key;		/* masked: host bits are zero */
	u16 ports[FFWALL_MAX_PORTS];	/* sorted, deduplicated */
	u8 nports;
	u8 flags;
	u8 len;
	u8 reserved;
	u32 ttl;
};

/*
 * What a prefix set needs from its owner.  Every callback is called with
 * the set's writer mutex held, in process context, and may sleep.  The
 * allowlist has no ports and needs none of them (ops may be NULL).
 *
 * @portset_get: intern @n sorted ports and take a reference on the id
 *	(non-zero) in *@id; 0 or a negative errno (-ENOSPC).
 * @portset_put: drop one reference taken by @portset_get.  Readers may
 *	still hold the id for a grace period (the table's zombie state).
 * @portset_read: copy the ports of a live id (for LOOKUP and DUMP); may
 *	also be called under rcu_read_lock() only, from LOOKUP.
 * @expired: an expired entry is being reclaimed (raise FFWALL_EVENT_EXPIRED
 *	from @e's key, len, flags and hits).  @e is freed after the call.
 */
struct ffwall_pset_ops {
	int (*portset_get)(void *priv, const u16 *ports, u8 n, u16 *id);
	void (*portset_put)(void *priv, u16 id);
	void (*portset_read)(void *priv, u16 id, u16 *ports, u8 *n);
	void (*expired)(void *priv, const struct ffwall_pfx *e, u32 now);
};

struct ffwall_pfx_buckets {
	unsigned long n;		/* 2^bits of the set */
	struct ffwall_pfx __rcu *b[];
};

/*
 * The IPv4 summary of a set (2 MiB + 8 KiB, allocated at the first IPv4
 * entry of length /16 or longer): which /24s hold an entry of length
 * /24../32 (key length 120..128) and which /16s one of length /16../23
 * (112..119).  A clear bit lets a lookup skip the probes of that group of
 * lengths; a set bit may be stale (see DESIGN-prefix.md).  @rcu first: its
 * offset must stay below 4096 for kvfree_rcu().
 */
#define FFWALL_PFX_SUM_LO16	112	/* first key length of the /16 group */
#define FFWALL_PFX_SUM_LO24	120	/* first key length of the /24 group */

struct ffwall_pfx_sum {
	struct rcu_head rcu;
	unsigned long s24[BITS_TO_LONGS(1UL << 24)];
	unsigned long s16[BITS_TO_LONGS(1UL << 16)];
};

/*
 * A prefix set.
 *
 * Locking
 * -------
 * *@lock (a mutex) serializes every writer of the set: add, del, flush,
 *	gc, dump and stats, and every ops callback runs under it.  It is
 *	@own_lock unless the creator passed an external mutex: pass the exact
 *	table's t->lock for the ban prefixes, so that port set ids (which
 *	t->lock protects) are taken and dropped under the lock they need.
 *	Writers sleep while holding it (allocation, cond_resched(),
 *	synchronize_rcu() in a full flush).  Never taken in softirq.
 *	Lock order: the allowlist's lock, then t->lock (which may be the ban
 *	set's lock), then a ban set's own lock if it has one.
 * RCU protects the readers: the packet path, LOOKUP and the *_covers()
 *	helpers walk @buckets under rcu_read_lock() without a lock and
 *	without allocating.  An unlinked entry keeps its ->next until it is
 *	freed after a grace period, in batches, never one call_rcu() each.
 * @lens is written only under the lock, one word at a time (WRITE_ONCE);
 *	readers read it locklessly.  A length bit is set before the first
 *	entry of that length is published and cleared after the last one is
 *	unlinked, so a reader never skips a length holding a published entry
 *	that was published before its lookup started.
 * @sum (the IPv4 summary, may be NULL) is replaced only under the lock,
 *	by rcu_assign_pointer(), and the old one freed after a grace period
 *	(kvfree_rcu(), or kvfree() after the synchronize_rcu() of a full
 *	flush or of destroy).  Its bits are only set under the lock
 *	(set_bit()), never cleared in a published summary: a rebuild fills a
 *	fresh object from the linked entries before publishing it.  The bit
 *	of a new entry is set before the entry is published
 *	(rcu_assign_pointer() of the entry is the release), and readers
 *	test it (test_bit()) in the summary they rcu_dereference(), so, as
 *	with @lens, a reader never skips an entry that was published before
 *	its lookup started.  A reader that still holds the old summary
 *	after a rebuild sees a superset of the new one's bits (it covered
 *	every entry linked at the rebuild); an entry added after a rebuild
 *	has its bit in the new summary and was published after the swap.
 *	NULL means "no summary": every length in use is probed.
 * The packet path writes only an entry's hits and last_hit (racy,
 *	approximate by design).  Other fields of a live entry are each
 *	updated as one word (WRITE_ONCE) under the lock by an ADD that
 *	replaces it.
 * The bucket array never changes size (see DESIGN-prefix.md): only a full
 *	flush replaces it, by an empty one of the same size.
 */
struct ffwall_pset {
	struct mutex *lock;		/* the writers' mutex, see above */
	struct mutex own_lock;		/* *lock unless an external one */
	struct ffwall_pfx_buckets __rcu *buckets;
	hsiphash_key_t hkey;		/* fixed for the set's life */
	unsigned int bits;		/* 2^bits buckets, fixed */
	u8 kind;			/* FFWALL_MATCH_PREFIX or _ALLOW */
	u8 max_len;			/* 127 (bans) or 128 (allowlist) */
	unsigned long lens[FFWALL_PFX_LEN_WORDS];	/* lengths in use */
	u32 len_count[FFWALL_PFX_NLENS];
	u32 count;
	u32 max;
	u64 inserted, deleted, expired;
	const struct ffwall_pset_ops *ops;
	void *priv;
	struct ffwall_reaper reap;	/* unlinked, waiting for call_rcu() */
	struct ffwall_pfx_sum __rcu *sum;	/* IPv4 summary, or NULL */
	u64 sum_stale;			/* removals since @sum was built */
	u64 sum_retry;			/* after -ENOMEM: retry at @inserted */
	u64 sum_rebuilds;		/* summaries built (DEBUG: tests) */
#ifdef DEBUG
	unsigned long probes;		/* selftests: hash probes of lookups */
	unsigned int sum_fail;		/* selftests: summary builds to fail */
#endif
};

struct ffwall_pset_stats {
	u64 entries, max, lengths;
	u64 inserted, deleted, expired;
	u64 bytes, entry_size, buckets;
};

/* Module parameters (prefix.c): limits of the two sets. */
extern unsigned int ffwall_max_prefixes;
extern unsigned int ffwall_max_allow;

int ffwall_prefix_module_init(void);
void ffwall_prefix_module_exit(void);

/*
 * @kind: FFWALL_MATCH_PREFIX (lengths 0..127, ports, flags, TTL) or
 * FFWALL_MATCH_ALLOW (lengths 0..128, nothing else).  @lock: NULL for a
 * mutex of the set's own, else the mutex that serializes its writers.
 */
struct ffwall_pset *ffwall_pset_create(u8 kind, u32 max, struct mutex *lock,
				       const struct ffwall_pset_ops *ops, void *priv);
/* The caller guarantees that no reader can find @s any more. */
void ffwall_pset_destroy(struct ffwall_pset *s);

/* --- Records (process context, no lock) --- */

/* Validation and masking of addresses, see DESIGN-prefix.md. */
void ffwall_key_mask(const struct ffwall_key *key, unsigned int len,
		     struct ffwall_key *out);
bool ffwall_key_host_bits_zero(const struct ffwall_key *key, unsigned int len);
bool ffwall_key_is_v4mapped(const struct ffwall_key *key);
bool ffwall_prefix_is_v4(const struct ffwall_key *key, unsigned int len);

/* ADD record of a ban prefix (prefix_len < 128): -EINVAL if malformed. */
int ffwall_prefix_parse_rule(const struct ffwall_rule *r, struct ffwall_pfx_add *a);
/* ALLOW_ADD record (prefix_len 0..128, no ports, flags, TTL). */
int ffwall_allow_parse_rule(const struct ffwall_rule *r, struct ffwall_pfx_add *a);
/* DEL or ALLOW_DEL record: only addr, prefix_len (<= @max_len), reserved. */
int ffwall_pfx_parse_del(const struct ffwall_rule *r, unsigned int max_len,
			 struct ffwall_key *key, u8 *len);

/* --- Readers: rcu_read_lock() held (softirq or process context) --- */

/*
 * The longest live entry of @s covering @key, or NULL.  Probes only the
 * prefix lengths in use; allocates nothing; takes no lock.
 */
struct ffwall_pfx *ffwall_pset_lookup_rcu(struct ffwall_pset *s,
					  const struct ffwall_key *key, u32 now);
/* The same, reading the clock only if an entry of @s covers @key. */
struct ffwall_pfx *__ffwall_pset_lookup_clock_rcu(struct ffwall_pset *s,
						  const struct ffwall_key *key,
						  struct ffwall_clock *c);

/* Has @s no length in use (no entry)?  Racy unless the set's lock is held. */
static inline bool ffwall_pset_empty(const struct ffwall_pset *s)
{
	unsigned long any = 0;
	unsigned int w;

	for (w = 0; w < FFWALL_PFX_LEN_WORDS; w++)
		any |= READ_ONCE(s->lens[w]);
	return !any;
}

/*
 * The packet path's entry: a set without any length in use (no prefix
 * banned) costs the hook a few loads, not a call.
 */
static inline struct ffwall_pfx *ffwall_pset_lookup_clock_rcu(struct ffwall_pset *s,
							      const struct ffwall_key *key,
							      struct ffwall_clock *c)
{
	if (ffwall_pset_empty(s))
		return NULL;
	return __ffwall_pset_lookup_clock_rcu(s, key, c);
}

/* Count a packet on @e (racy by design). */
void ffwall_pfx_hit(struct ffwall_pfx *e, u32 now);

/* Does an allowlist entry (exact or prefix) cover @key? */
static inline bool ffwall_allow_match_rcu(struct ffwall_pset *allow,
					  const struct ffwall_key *key)
{
	return ffwall_pset_lookup_rcu(allow, key, 0);
}

/* --- Process context, any lock or none (take rcu_read_lock() inside) --- */

/*
 * Is the whole range @key/@len (host bits zero) inside one live entry of
 * @s?  Only entries of length <= @len can contain it.
 */
bool ffwall_pset_covers(struct ffwall_pset *s, const struct ffwall_key *key,
			unsigned int len, u32 now);
static inline bool ffwall_allow_covers(struct ffwall_pset *allow,
				       const struct ffwall_key *key,
				       unsigned int len)
{
	return ffwall_pset_covers(allow, key, len, 0);
}

/* LOOKUP: fill @info from the longest live match; false (zeroed) if none. */
bool ffwall_pset_lookup_info(struct ffwall_pset *s, const struct ffwall_key *key,
			     u32 now, struct ffwall_entry_info *info);
/* Fill @info from @e: rcu_read_lock() or the set's lock held. */
void ffwall_pfx_fill_info(struct ffwall_pset *s, const struct ffwall_pfx *e,
			  u32 now, struct ffwall_entry_info *info);

/* --- Writers: the set's lock held (ffwall_pset_lock()), may sleep --- */

static inline void ffwall_pset_lock(struct ffwall_pset *s)
{
	mutex_lock(s->lock);
}

static inline void ffwall_pset_unlock(struct ffwall_pset *s)
{
	mutex_unlock(s->lock);
}

/*
 * Insert or replace (ports, flags and TTL; hits kept unless the old entry
 * had expired).  0, -ENOSPC (the set is full of live entries, or no port
 * set id), -ENOMEM.  *@created: a new entry (or an expired one reborn).
 */
int ffwall_pset_add_locked(struct ffwall_pset *s, const struct ffwall_pfx_add *a,
			   u32 now, bool *created);
/* Remove @key/@len; *@removed: a live entry was removed. */
void ffwall_pset_del_locked(struct ffwall_pset *s, const struct ffwall_key *key,
			    u8 len, u32 now, bool *removed);
/*
 * Remove the entries whose flags include all of @with_flags (0: all).
 * Returns how many were removed.  A full flush swaps in an empty bucket
 * array and frees the old entries after one grace period; called with the
 * lock held, it waits for that grace period under the lock.
 */
u64 ffwall_pset_flush_locked(struct ffwall_pset *s, u8 with_flags);
/* Reclaim the expired entries (ops->expired for each); returns how many. */
u32 ffwall_pset_gc_locked(struct ffwall_pset *s, u32 now);
/*
 * Hand the entries unlinked so far to call_rcu(), in one batch.  Call it
 * before dropping the lock after *_locked() calls; a forgotten commit only
 * delays the freeing to the next commit (a batch also goes by itself when
 * it fills a page).
 */
void ffwall_pset_commit_locked(struct ffwall_pset *s);

/* --- The same, taking the set's lock (process context, may sleep) --- */

int ffwall_pset_add(struct ffwall_pset *s, const struct ffwall_pfx_add *recs,
		    u32 n, u32 now, u32 *applied, u32 *changed);
void ffwall_pset_del(struct ffwall_pset *s, const struct ffwall_pfx_add *recs,
		     u32 n, u32 now, u32 *changed);
u64 ffwall_pset_flush(struct ffwall_pset *s, u8 with_flags);
u32 ffwall_pset_gc(struct ffwall_pset *s, u32 now);

/*
 * Up to @max live records into @out, from *@cursor (0 to start), skipping
 * entries last hit before @hit_since (0: none skipped).  Updates *@cursor
 * (FFWALL_PSET_DUMP_END when done) and returns the count.  Takes the lock.
 * Every entry present for the whole walk is returned exactly once; see
 * DESIGN-prefix.md.
 */
u32 ffwall_pset_dump(struct ffwall_pset *s, struct ffwall_entry_info *out,
		     u32 max, u64 *cursor, u64 hit_since, u32 now);
void ffwall_pset_get_stats(struct ffwall_pset *s, struct ffwall_pset_stats *st);

#ifdef DEBUG
int ffwall_prefix_selftest(void);
#endif

#endif /* _FFWALL_PREFIX_H */
