// SPDX-License-Identifier: GPL-2.0
/*
 * ffwall: the exact-address table.
 *
 * A hash table of 16-byte addresses with a capacity cap, CLOCK eviction and
 * per-entry expiry.  The packet path looks entries up under RCU without a
 * lock and without allocating; writers are serialized by a mutex.
 *
 * Locking
 * -------
 * t->lock (mutex) serializes every writer: ADD, DEL, FLUSH, SET_CONFIG,
 *	DUMP, STATS, the expiry reclaimer and resizes.  It protects the
 *	chains, t->cur, t->old, the port sets and every counter of the table.
 *	Writers sleep (allocation, cond_resched(), synchronize_rcu()) while
 *	holding it; it is never taken in softirq context.
 * RCU protects readers: the packet path and LOOKUP walk t->cur (and t->old
 *	during a resize) under rcu_read_lock().  An unlinked entry keeps its
 *	->next until it is freed, which happens only after a grace period, in
 *	batches (struct ffwall_reaper, reap.h), never one call_rcu() per entry.
 * t->seq (seqcount) is written only by a resize, with bottom halves
 *	disabled, around each chunk of moved entries.  Moving an entry rewrites
 *	its ->next, so a reader walking the old chain can be led into the new
 *	one and miss an entry; readers therefore retry a lookup that missed
 *	if the sequence changed.  A write section is short (one chunk of
 *	buckets), so a reader spins for microseconds at most, never for the
 *	length of a resize.
 * The packet path writes only an entry's hits, last_hit and ref fields
 *	(racy, approximate by design) and per-CPU counters.
 * A port set's contents never change while it is in use; a set whose last
 *	user went away is a zombie until a grace period has passed, and only
 *	then may its id be reused.  Port set ids are shared by the exact
 *	entries and the ban prefixes (t->ban is created with &t->lock as its
 *	writers' mutex, so its ops below run under t->lock); each entry of
 *	either holds one reference.
 * t->ban and t->allow are set before the hooks exist and cleared only after
 *	they are gone; see ffwall_table_prefixes_init().  Lock order: the
 *	allowlist's mutex, then t->lock.
 */
#include <linux/kernel.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "events.h"
#include "reap.h"
#include "prefix.h"
#include "table.h"

#define FFWALL_MIN_BITS		4
#define FFWALL_MAX_BITS		26
/* Buckets moved per seqcount write section during a resize. */
#define FFWALL_MOVE_CHUNK	256
/* Seconds a RESERVE keeps the hash from shrinking (uapi: struct ffwall_reserve). */
#define FFWALL_RESERVE_HOLD	60
/* Buckets walked between two cond_resched() or mutex releases. */
#define FFWALL_WALK_CHUNK	1024

enum {
	FFWALL_PS_FREE,
	FFWALL_PS_USED,
	FFWALL_PS_ZOMBIE,
};

static struct kmem_cache *ffwall_entry_cache;

#define ffwall_deref(t, p) rcu_dereference_protected(p, lockdep_is_held(&(t)->lock))

/* ------------------------------------------------------------------------ */
/* Hashing and lookup. */

struct ffwall_entry *ffwall_table_lookup_rcu(struct ffwall_table *t,
					     const struct ffwall_key *key, u32 now)
{
	struct ffwall_clock c = { .t = t, .now = now, .read = true };

	return ffwall_table_lookup_clock_rcu(t, key, &c);
}

bool ffwall_table_port_match(const struct ffwall_table *t, u16 portset, u16 port)
{
	const struct ffwall_portset *ps = &t->portsets[portset];
	unsigned int i;

	for (i = 0; i < ps->n; i++)
		if (ps->ports[i] == port)
			return true;
	return false;
}

void ffwall_table_hit(struct ffwall_entry *e, u32 now)
{
	WRITE_ONCE(e->hits, READ_ONCE(e->hits) + 1);
	if (READ_ONCE(e->last_hit) != now)
		WRITE_ONCE(e->last_hit, now);
	if (!READ_ONCE(e->ref))
		WRITE_ONCE(e->ref, 1);
}

/* ------------------------------------------------------------------------ */
/* Port sets. */

static int ffwall_portset_get(struct ffwall_table *t, const u16 *ports, u8 n, u16 *id)
{
	struct ffwall_portset *ps;
	u32 i, free_id = 0;

	lockdep_assert_held(&t->lock);
	ps = &t->portsets[t->last_portset];
	if (t->last_portset && ps->state == FFWALL_PS_USED && ps->n == n &&
	    !memcmp(ps->ports, ports, n * sizeof(*ports))) {
		ps->refs++;
		*id = t->last_portset;
		return 0;
	}
	for (i = 1; i < FFWALL_MAX_PORTSETS; i++) {
		ps = &t->portsets[i];
		if (ps->state == FFWALL_PS_USED && ps->n == n &&
		    !memcmp(ps->ports, ports, n * sizeof(*ports))) {
			ps->refs++;
			*id = i;
			t->last_portset = i;
			return 0;
		}
		if (ps->state == FFWALL_PS_FREE && !free_id)
			free_id = i;
	}
	if (!free_id && t->zombie_portsets) {
		/* Readers may still hold a zombie's id: let them finish. */
		synchronize_rcu();
		for (i = 1; i < FFWALL_MAX_PORTSETS; i++) {
			ps = &t->portsets[i];
			if (ps->state != FFWALL_PS_ZOMBIE)
				continue;
			ps->state = FFWALL_PS_FREE;
			if (!free_id)
				free_id = i;
		}
		t->zombie_portsets = 0;
	}
	if (!free_id)
		return -ENOSPC;
	ps = &t->portsets[free_id];
	memset(ps->ports, 0, sizeof(ps->ports));
	memcpy(ps->ports, ports, n * sizeof(*ports));
	ps->n = n;
	ps->refs = 1;
	ps->state = FFWALL_PS_USED;
	t->nportsets++;
	t->last_portset = free_id;
	*id = free_id;
	return 0;
}

static void ffwall_portset_put(struct ffwall_table *t, u16 id)
{
	struct ffwall_portset *ps = &t->portsets[id];

	if (!id)
		return;
	if (--ps->refs)
		return;
	ps->state = FFWALL_PS_ZOMBIE;
	t->nportsets--;
	t->zombie_portsets++;
}

/* Copy the ports of a live id: t->lock or rcu_read_lock() held. */
static void ffwall_portset_read(const struct ffwall_table *t, u16 id, u16 *ports, u8 *n)
{
	const struct ffwall_portset *ps = &t->portsets[id];
	u8 cnt = min_t(u8, READ_ONCE(ps->n), FFWALL_MAX_PORTS);

	memcpy(ports, ps->ports, cnt * sizeof(*ports));
	*n = cnt;
}

/* ------------------------------------------------------------------------ */
/* Bucket arrays and resizing. */

static size_t ffwall_buckets_bytes(unsigned int bits)
{
	return struct_size((struct ffwall_buckets *)NULL, b, 1UL << bits);
}

static struct ffwall_buckets *ffwall_buckets_alloc(unsigned int bits)
{
	struct ffwall_buckets *bk;

	bk = kvzalloc(ffwall_buckets_bytes(bits), GFP_KERNEL | __GFP_NOWARN);
	if (bk)
		bk->bits = bits;
	return bk;
}

/*
 * Move every entry to a new bucket array of 2^@bits buckets.  Readers look
 * in both arrays meanwhile and retry a miss when t->seq moved (see
 * "Locking").  Returns false when the new array cannot be allocated; the
 * table then keeps working with longer chains.
 */
static bool ffwall_resize(struct ffwall_table *t, unsigned int bits)
{
	struct ffwall_buckets *old = ffwall_deref(t, t->cur);
	struct ffwall_buckets *nb;
	struct ffwall_entry *e;
	u32 i, j, n;

	if (bits == old->bits)
		return true;
	nb = ffwall_buckets_alloc(bits);
	if (!nb)
		return false;

	local_bh_disable();
	write_seqcount_begin(&t->seq);
	rcu_assign_pointer(t->old, old);
	rcu_assign_pointer(t->cur, nb);
	write_seqcount_end(&t->seq);
	local_bh_enable();

	n = 1U << old->bits;
	for (i = 0; i < n; i += FFWALL_MOVE_CHUNK) {
		local_bh_disable();
		write_seqcount_begin(&t->seq);
		for (j = i; j < i + FFWALL_MOVE_CHUNK && j < n; j++) {
			while ((e = ffwall_deref(t, old->b[j]))) {
				u32 k = ffwall_bucket(nb, ffwall_hash(t, &e->key));

				rcu_assign_pointer(old->b[j], ffwall_deref(t, e->next));
				RCU_INIT_POINTER(e->next, ffwall_deref(t, nb->b[k]));
				rcu_assign_pointer(nb->b[k], e);
			}
		}
		write_seqcount_end(&t->seq);
		local_bh_enable();
		cond_resched();
	}

	local_bh_disable();
	write_seqcount_begin(&t->seq);
	RCU_INIT_POINTER(t->old, NULL);
	write_seqcount_end(&t->seq);
	local_bh_enable();

	/* The CLOCK hand is a hash position: it survives the resize. */
	synchronize_rcu();
	kvfree(old);
	t->resizes++;
	return true;
}

static void ffwall_maybe_grow(struct ffwall_table *t)
{
	struct ffwall_buckets *bk = ffwall_deref(t, t->cur);

	/* Load factor at most 1: 8 bytes of bucket per entry. */
	if (t->count < (1U << bk->bits) || bk->bits >= FFWALL_MAX_BITS ||
	    t->count < t->grow_backoff)
		return;
	if (!ffwall_resize(t, bk->bits + 1))
		t->grow_backoff = t->count + t->count / 2 + 1;
}

/*
 * Make room for @n more entries: grow the hash at once to what they need
 * (load factor at most 1, within max_entries), instead of one doubling
 * after another while they go in.  Each doubling moves every entry and
 * waits for a grace period.  Only when that is at least @min_doublings
 * doublings: ADD asks for two before each batch, so that a batch of
 * updates (n at most the entries already there) never grows the hash past
 * what ffwall_maybe_grow() would; RESERVE asks for one.  -ENOMEM when the
 * new array cannot be allocated (the table is unchanged; ffwall_maybe_grow()
 * tries again as entries arrive).  @buckets: the hash's size after.
 */
int ffwall_table_reserve(struct ffwall_table *t, u32 n, unsigned int min_doublings,
			 u64 *buckets)
{
	struct ffwall_buckets *bk;
	unsigned int bits;
	int err = 0;
	u64 want;

	mutex_lock(&t->lock);
	bk = ffwall_deref(t, t->cur);
	want = min_t(u64, (u64)t->count + n, t->max_entries);
	/* ADD's own reserve respects the back-off after a failed allocation. */
	if (want > (1ULL << bk->bits) &&
	    (min_doublings < 2 || t->count >= t->grow_backoff)) {
		bits = min_t(unsigned int, FFWALL_MAX_BITS, order_base_2(want));
		if (bits >= bk->bits + min_doublings && !ffwall_resize(t, bits)) {
			t->grow_backoff = t->count + t->count / 2 + 1;
			err = -ENOMEM;
		}
	}
	/* RESERVE's room outlives the reclaimer's next pass: the load follows it. */
	if (min_doublings < 2 && n)
		t->reserve_hold = ffwall_table_now(t) + FFWALL_RESERVE_HOLD;
	*buckets = 1ULL << ffwall_deref(t, t->cur)->bits;
	mutex_unlock(&t->lock);
	return err;
}

static void ffwall_maybe_shrink(struct ffwall_table *t)
{
	struct ffwall_buckets *bk = ffwall_deref(t, t->cur);
	unsigned int bits;

	if (bk->bits <= FFWALL_MIN_BITS || t->count >= (1U << bk->bits) / 8 ||
	    (s32)(ffwall_table_now(t) - t->reserve_hold) < 0)
		return;
	bits = max_t(unsigned int, FFWALL_MIN_BITS, order_base_2(t->count + 1) + 1);
	if (bits < bk->bits)
		ffwall_resize(t, bits);
	t->grow_backoff = 0;
}

/* ------------------------------------------------------------------------ */
/* Writers. */

static void ffwall_unlink(struct ffwall_table *t, struct ffwall_entry __rcu **pprev,
			  struct ffwall_entry *e, struct ffwall_reaper *r)
{
	rcu_assign_pointer(*pprev, ffwall_deref(t, e->next));
	t->count--;
	if (e->flags & FFWALL_F_PINNED)
		t->pinned--;
	ffwall_portset_put(t, e->portset);
	ffwall_reap(r, e);
}

/* Unlink every expired entry of bucket @b; returns how many. */
static u32 ffwall_reclaim_bucket(struct ffwall_table *t, struct ffwall_buckets *bk,
				 u32 b, u32 now, struct ffwall_reaper *r)
{
	struct ffwall_entry __rcu **pprev = &bk->b[b];
	struct ffwall_entry *e;
	u32 n = 0;

	while ((e = ffwall_deref(t, *pprev))) {
		if (ffwall_expired(e, now)) {
			ffwall_event_raise(FFWALL_EVENT_EXPIRED, &e->key, 128, e->flags,
					   READ_ONCE(e->hits));
			ffwall_unlink(t, pprev, e, r);
			n++;
		} else {
			pprev = &e->next;
		}
	}
	t->expired += n;
	return n;
}

/*
 * The entry of bucket @b with the smallest hash >= @pos, its hash and the
 * link that points to it; NULL when there is none.  Chains are short, so
 * the quadratic walk costs a few hashes.
 */
static struct ffwall_entry *ffwall_next_in_bucket(struct ffwall_table *t,
						  struct ffwall_buckets *bk, u32 b, u64 pos,
						  u64 *hash,
						  struct ffwall_entry __rcu ***pprevp)
{
	struct ffwall_entry __rcu **pprev;
	struct ffwall_entry *e, *best = NULL;
	u64 h;

	for (pprev = &bk->b[b]; (e = ffwall_deref(t, *pprev)); pprev = &e->next) {
		h = ffwall_hash(t, &e->key);
		if (h < pos || (best && h >= *hash))
			continue;
		best = e;
		*hash = h;
		*pprevp = pprev;
	}
	return best;
}

/*
 * CLOCK eviction.  The hand is a position in hash space and sweeps the
 * entries in increasing hash order (bucket by bucket, since buckets are
 * ordered by hash), wrapping around; being a hash, it keeps its place
 * across resizes.  At each entry: an expired one is taken at once, a
 * pinned one is skipped, a referenced one (hit or added since the hand last
 * passed) loses its reference bit, and the first unreferenced one is the
 * victim.  After two full turns every non-pinned entry has lost its bit at
 * least once, so unless packets keep hitting all of them the victim is
 * found; past two turns the first non-pinned entry is taken regardless.
 * The cost is amortized O(1) per eviction; it grows with the share of
 * pinned entries.
 */
static int ffwall_evict_one(struct ffwall_table *t, u32 now, struct ffwall_reaper *r)
{
	struct ffwall_buckets *bk = ffwall_deref(t, t->cur);
	u32 nb = 1U << bk->bits, b, i, steps = 0;
	struct ffwall_entry __rcu **pprev = NULL;
	struct ffwall_entry *e;
	u64 pos = t->hand, h = 0, visits = 0;

	if (t->count == t->pinned) {
		/* Only pinned entries: only an expired one can make room. */
		for (i = 0; i < nb; i++) {
			if (ffwall_reclaim_bucket(t, bk, i, now, r))
				return 0;
			if ((i & (FFWALL_WALK_CHUNK - 1)) == FFWALL_WALK_CHUNK - 1)
				cond_resched();
		}
		return -ENOSPC;
	}

	for (;;) {
		b = ffwall_bucket(bk, pos);
		e = ffwall_next_in_bucket(t, bk, b, pos, &h, &pprev);
		if (!e) {
			b = (b + 1) & (nb - 1);
			pos = (u64)b << (64 - bk->bits);
			if (!(++steps & (FFWALL_WALK_CHUNK - 1)))
				cond_resched();
			continue;
		}
		if (ffwall_expired(e, now)) {
			t->expired++;
			ffwall_event_raise(FFWALL_EVENT_EXPIRED, &e->key, 128, e->flags,
					   READ_ONCE(e->hits));
			break;
		}
		if (!(e->flags & FFWALL_F_PINNED)) {
			if (!READ_ONCE(e->ref) || ++visits > 2ULL * t->count) {
				t->evicted++;
				ffwall_event_raise(FFWALL_EVENT_EVICTED, &e->key, 128,
						   e->flags, READ_ONCE(e->hits));
				break;
			}
			WRITE_ONCE(e->ref, 0);
		}
		pos = h + 1;	/* wraps to 0 after the last hash */
	}

	ffwall_unlink(t, pprev, e, r);
	t->hand = h;
	return 0;
}

static u32 ffwall_expiry(u32 now, u32 ttl)
{
	u64 exp;

	if (!ttl)
		return 0;
	exp = (u64)now + ttl;
	return exp >= U32_MAX ? U32_MAX : (u32)exp;
}

/*
 * Entries allocated ahead for one ADD call.  kmem_cache_alloc_bulk() takes a
 * run of objects off the slab in one go, for less than a kmem_cache_alloc()
 * each (a bulk load creates an entry per record); the ones left over when the
 * call ends go back with kmem_cache_free_bulk().  Only the caller sees them:
 * no reader can reach an entry before it is linked.
 */
#define FFWALL_SPARE_MAX	16

struct ffwall_spare {
	unsigned int n;
	void *e[FFWALL_SPARE_MAX];
};

/* An entry for a new record; @want: the records left in the call, at least 1. */
static struct ffwall_entry *ffwall_spare_get(struct ffwall_spare *s, u32 want)
{
	if (!s->n) {
		want = min_t(u32, want, FFWALL_SPARE_MAX);
		s->n = kmem_cache_alloc_bulk(ffwall_entry_cache,
					     GFP_KERNEL | __GFP_NOWARN, want, s->e);
		if (!s->n)
			return NULL;
	}
	return s->e[--s->n];
}

static void ffwall_spare_put(struct ffwall_spare *s, struct ffwall_entry *e)
{
	s->e[s->n++] = e;
}

static void ffwall_spare_release(struct ffwall_spare *s)
{
	if (s->n)
		kmem_cache_free_bulk(ffwall_entry_cache, s->n, s->e);
	s->n = 0;
}

static int ffwall_insert_one(struct ffwall_table *t, const struct ffwall_add *a,
			     u32 now, struct ffwall_reaper *r,
			     struct ffwall_spare *spare, u32 left, bool *created)
{
	struct ffwall_buckets *bk = ffwall_deref(t, t->cur);
	u64 h = ffwall_hash(t, &a->key);
	struct ffwall_entry *e;
	u16 ps = 0;
	u32 k;
	int err;

	k = ffwall_bucket(bk, h);
	for (e = ffwall_deref(t, bk->b[k]); e; e = ffwall_deref(t, e->next))
		if (ffwall_key_eq(&e->key, &a->key))
			break;

	if (a->nports) {
		err = ffwall_portset_get(t, a->ports, a->nports, &ps);
		if (err)
			return err;
	}

	if (e) {
		/* Update in place; each field is one word for the readers. */
		u16 old_ps = e->portset;

		if ((e->flags ^ a->flags) & FFWALL_F_PINNED) {
			if (a->flags & FFWALL_F_PINNED)
				t->pinned++;
			else
				t->pinned--;
		}
		WRITE_ONCE(e->portset, ps);
		WRITE_ONCE(e->flags, a->flags);
		WRITE_ONCE(e->expires, ffwall_expiry(now, a->ttl));
		WRITE_ONCE(e->ref, 1);
		ffwall_portset_put(t, old_ps);
		*created = false;
		return 0;
	}

	e = ffwall_spare_get(spare, left);
	if (!e) {
		ffwall_portset_put(t, ps);
		return -ENOMEM;
	}
	if (t->count >= t->max_entries) {
		err = ffwall_evict_one(t, now, r);
		if (err) {
			ffwall_spare_put(spare, e);
			ffwall_portset_put(t, ps);
			return err;
		}
	}
	ffwall_maybe_grow(t);
	bk = ffwall_deref(t, t->cur);
	k = ffwall_bucket(bk, h);

	e->key = a->key;
	e->expires = ffwall_expiry(now, a->ttl);
	e->last_hit = 0;
	e->hits = 0;
	e->portset = ps;
	e->flags = a->flags;
	/* An ADD counts as a use: the entry gets one turn of the hand. */
	e->ref = 1;
	RCU_INIT_POINTER(e->next, ffwall_deref(t, bk->b[k]));
	rcu_assign_pointer(bk->b[k], e);
	t->count++;
	if (a->flags & FFWALL_F_PINNED)
		t->pinned++;
	t->inserted++;
	*created = true;
	return 0;
}

int ffwall_table_add(struct ffwall_table *t, const struct ffwall_add *recs,
		     u32 n, u32 *applied, u32 *changed)
{
	struct ffwall_reaper r = FFWALL_REAPER_INIT(ffwall_entry_cache);
	struct ffwall_spare spare = { .n = 0 };
	bool created;
	int err = 0;
	u32 i, now;

	*changed = 0;
	mutex_lock(&t->lock);
	now = ffwall_table_now(t);
	for (i = 0; i < n; i++) {
		err = ffwall_insert_one(t, &recs[i], now, &r, &spare, n - i,
					&created);
		if (err)
			break;
		if (created)
			(*changed)++;
		if ((i & 255) == 255)
			cond_resched();
	}
	*applied = i;
	mutex_unlock(&t->lock);
	ffwall_spare_release(&spare);
	ffwall_reap_flush(&r);
	return err;
}

int ffwall_table_del(struct ffwall_table *t, const struct ffwall_key *keys,
		     u32 n, u32 *applied, u32 *changed)
{
	struct ffwall_reaper r = FFWALL_REAPER_INIT(ffwall_entry_cache);
	struct ffwall_entry __rcu **pprev;
	struct ffwall_buckets *bk;
	struct ffwall_entry *e;
	u32 i, now;

	*changed = 0;
	mutex_lock(&t->lock);
	now = ffwall_table_now(t);
	bk = ffwall_deref(t, t->cur);
	for (i = 0; i < n; i++) {
		u64 h = ffwall_hash(t, &keys[i]);

		for (pprev = &bk->b[ffwall_bucket(bk, h)];
		     (e = ffwall_deref(t, *pprev)); pprev = &e->next) {
			if (!ffwall_key_eq(&e->key, &keys[i]))
				continue;
			if (!ffwall_expired(e, now))
				(*changed)++;
			ffwall_unlink(t, pprev, e, &r);
			t->deleted++;
			break;
		}
		if ((i & 255) == 255)
			cond_resched();
	}
	*applied = n;
	ffwall_maybe_shrink(t);
	mutex_unlock(&t->lock);
	ffwall_reap_flush(&r);
	return 0;
}

/* Free every entry of @bk; no reader may see it any more. */
static void ffwall_free_buckets(struct ffwall_buckets *bk)
{
	struct ffwall_entry *e, *next;
	u32 i, n = 1U << bk->bits;

	for (i = 0; i < n; i++) {
		for (e = rcu_dereference_raw(bk->b[i]); e; e = next) {
			next = rcu_dereference_raw(e->next);
			kmem_cache_free(ffwall_entry_cache, e);
		}
		if ((i & (FFWALL_WALK_CHUNK - 1)) == FFWALL_WALK_CHUNK - 1)
			cond_resched();
	}
	kvfree(bk);
}

static void ffwall_flush_flags(struct ffwall_table *t, u8 with_flags, u64 *removed)
{
	struct ffwall_buckets *bk = ffwall_deref(t, t->cur);
	struct ffwall_entry __rcu **pprev;
	struct ffwall_reaper r = FFWALL_REAPER_INIT(ffwall_entry_cache);
	struct ffwall_entry *e;
	u32 i, n = 1U << bk->bits;

	for (i = 0; i < n; i++) {
		pprev = &bk->b[i];
		while ((e = ffwall_deref(t, *pprev))) {
			if ((e->flags & with_flags) == with_flags) {
				ffwall_unlink(t, pprev, e, &r);
				t->deleted++;
				(*removed)++;
			} else {
				pprev = &e->next;
			}
		}
		if ((i & (FFWALL_WALK_CHUNK - 1)) == FFWALL_WALK_CHUNK - 1)
			cond_resched();
	}
	ffwall_maybe_shrink(t);
	ffwall_reap_flush(&r);
}

/*
 * FLUSH.  Everything: swap in an empty bucket array, wait for one grace
 * period, then free the old entries directly.  With @with_flags: unlink the
 * matching entries and free them in reaper batches.
 */
int ffwall_table_flush(struct ffwall_table *t, u8 with_flags, u64 *removed)
{
	struct ffwall_buckets *old, *nb;
	struct ffwall_entry *e;
	u32 i, n;

	*removed = 0;
	if (with_flags) {
		mutex_lock(&t->lock);
		ffwall_flush_flags(t, with_flags, removed);
		mutex_unlock(&t->lock);
		return 0;
	}

	nb = ffwall_buckets_alloc(FFWALL_MIN_BITS);
	if (!nb)
		return -ENOMEM;
	mutex_lock(&t->lock);
	old = ffwall_deref(t, t->cur);
	n = 1U << old->bits;
	rcu_assign_pointer(t->cur, nb);
	*removed = t->count;
	t->deleted += t->count;
	t->count = 0;
	t->pinned = 0;
	t->hand = 0;
	t->grow_backoff = 0;
	/*
	 * Ban prefixes hold port set ids too: drop only the references of
	 * the exact entries.  Their ids become zombies as usual.
	 */
	for (i = 0; i < n; i++) {
		for (e = ffwall_deref(t, old->b[i]); e; e = ffwall_deref(t, e->next))
			ffwall_portset_put(t, e->portset);
		if ((i & (FFWALL_WALK_CHUNK - 1)) == FFWALL_WALK_CHUNK - 1)
			cond_resched();
	}
	synchronize_rcu();
	mutex_unlock(&t->lock);
	ffwall_free_buckets(old);
	return 0;
}

int ffwall_table_set_max(struct ffwall_table *t, u32 max_entries)
{
	struct ffwall_reaper r = FFWALL_REAPER_INIT(ffwall_entry_cache);
	int err = 0;
	u32 now;

	mutex_lock(&t->lock);
	if (t->pinned > max_entries) {
		err = -ENOSPC;
		goto out;
	}
	t->max_entries = max_entries;
	now = ffwall_table_now(t);
	while (t->count > max_entries) {
		err = ffwall_evict_one(t, now, &r);
		if (err)
			break;
		if (!(t->count & 255))
			cond_resched();
	}
	ffwall_maybe_shrink(t);
out:
	mutex_unlock(&t->lock);
	ffwall_reap_flush(&r);
	return err;
}

/*
 * The expiry reclaimer: one pass over the table, FFWALL_WALK_CHUNK buckets
 * at a time, dropping the mutex between chunks.  Its position is a hash
 * position, so a resize between two chunks does not lose its place.
 */
void ffwall_table_gc(struct ffwall_table *t)
{
	struct ffwall_reaper r = FFWALL_REAPER_INIT(ffwall_entry_cache);
	struct ffwall_buckets *bk;
	u64 pos = 0;
	bool done;
	u32 b, nb, i, now;

	do {
		mutex_lock(&t->lock);
		bk = ffwall_deref(t, t->cur);
		nb = 1U << bk->bits;
		now = ffwall_table_now(t);
		b = ffwall_bucket(bk, pos);
		for (i = 0; i < FFWALL_WALK_CHUNK && b < nb; i++, b++)
			ffwall_reclaim_bucket(t, bk, b, now, &r);
		done = b >= nb;
		if (done)
			ffwall_maybe_shrink(t);
		else
			pos = (u64)b << (64 - bk->bits);
		mutex_unlock(&t->lock);
		cond_resched();
	} while (!done);
	ffwall_reap_flush(&r);
	/* Then the ban prefixes, taking t->lock by themselves. */
	if (t->ban)
		ffwall_pset_gc(t->ban, ffwall_table_now(t));
}

static void ffwall_gc_work(struct work_struct *work)
{
	struct ffwall_table *t = container_of(to_delayed_work(work),
					      struct ffwall_table, gc_work);

	ffwall_table_gc(t);
	if (!READ_ONCE(t->dying))
		schedule_delayed_work(&t->gc_work, READ_ONCE(t->gc_interval) * HZ);
}

void ffwall_table_set_gc_interval(struct ffwall_table *t, u32 secs)
{
	WRITE_ONCE(t->gc_interval, secs);
	if (!READ_ONCE(t->dying))
		mod_delayed_work(system_wq, &t->gc_work, secs * HZ);
}

/* ------------------------------------------------------------------------ */
/* Readers of the whole entry: LOOKUP, DUMP, STATS. */

static void ffwall_fill_info(const struct ffwall_table *t, const struct ffwall_entry *e,
			     struct ffwall_entry_info *info, u32 now)
{
	u16 ps = READ_ONCE(e->portset);
	u32 exp = READ_ONCE(e->expires);

	memset(info, 0, sizeof(*info));
	memcpy(info->rule.addr, &e->key, sizeof(info->rule.addr));
	info->rule.prefix_len = 128;
	if (ps) {
		info->rule.nports = t->portsets[ps].n;
		memcpy(info->rule.ports, t->portsets[ps].ports, sizeof(info->rule.ports));
	}
	info->rule.flags = READ_ONCE(e->flags);
	if (exp) {
		info->expires = exp;
		info->rule.ttl = exp > now ? exp - now : 0;
	}
	info->last_hit = READ_ONCE(e->last_hit);
	info->hits = READ_ONCE(e->hits);
	info->kind = FFWALL_MATCH_EXACT;
}

bool ffwall_table_info(struct ffwall_table *t, const struct ffwall_key *key,
		       struct ffwall_entry_info *info, u32 *now)
{
	struct ffwall_entry *e;

	*now = ffwall_table_now(t);
	memset(info, 0, sizeof(*info));
	rcu_read_lock();
	e = ffwall_table_lookup_rcu(t, key, *now);
	if (e)
		ffwall_fill_info(t, e, info, *now);
	rcu_read_unlock();
	return !!e;
}

static bool ffwall_dump_wanted(const struct ffwall_entry *e, u32 now, u64 hit_since)
{
	if (ffwall_expired(e, now))
		return false;
	return !hit_since || READ_ONCE(e->last_hit) >= hit_since;
}

/*
 * DUMP walks the table in increasing order of the top 63 bits of the hash
 * (the "order"); the cursor is the next order to visit, below 2^63, and
 * FFWALL_TABLE_DUMP_END (2^63) when the walk is over, which leaves the top
 * bit of the u64 cursor to FFWALL_IOC_DUMP for its later phases.  Since an
 * entry's hash never changes (the key of the hash is fixed for the table's
 * life) and buckets are ranges of the order at every size, every entry
 * present for the whole dump is returned exactly once, whatever resizes
 * happen between two calls.  Entries of equal order are returned by the
 * same call (a group larger than @max, which needs @max entries sharing a
 * 32-bit hash, is cut).  Each call holds the mutex, so it sees no concurrent
 * change.
 */
u32 ffwall_table_dump(struct ffwall_table *t, struct ffwall_entry_info *out,
		      u32 max, u64 *cursor, u64 hit_since)
{
	struct ffwall_buckets *bk;
	struct ffwall_entry *e;
	u64 pos = *cursor, best, h;
	u32 n = 0, b, nb, group, now, walked = 0;
	bool any;

	if (pos >= FFWALL_TABLE_DUMP_END) {
		*cursor = FFWALL_TABLE_DUMP_END;
		return 0;
	}
	mutex_lock(&t->lock);
	bk = ffwall_deref(t, t->cur);
	nb = 1U << bk->bits;
	now = ffwall_table_now(t);
	for (b = ffwall_bucket(bk, pos << 1); b < nb; ) {
		for (;;) {
			/* The smallest order >= pos in this bucket, and its group. */
			any = false;
			best = 0;
			group = 0;
			for (e = ffwall_deref(t, bk->b[b]); e; e = ffwall_deref(t, e->next)) {
				if (!ffwall_dump_wanted(e, now, hit_since))
					continue;
				h = ffwall_hash(t, &e->key) >> 1;
				if (h < pos)
					continue;
				if (!any || h < best) {
					best = h;
					group = 1;
					any = true;
				} else if (h == best) {
					group++;
				}
			}
			if (!any)
				break;
			if (n + group > max) {
				if (n) {
					*cursor = best;
					goto out;
				}
				group = max;	/* cut an oversized group */
			}
			for (e = ffwall_deref(t, bk->b[b]); e && group;
			     e = ffwall_deref(t, e->next))
				if (ffwall_dump_wanted(e, now, hit_since) &&
				    ffwall_hash(t, &e->key) >> 1 == best) {
					ffwall_fill_info(t, e, &out[n++], now);
					group--;
				}
			pos = best + 1;
		}
		b++;
		if (b < nb)
			pos = ((u64)b << (64 - bk->bits)) >> 1;
		if (!(++walked & (FFWALL_WALK_CHUNK - 1)))
			cond_resched();
	}
	*cursor = FFWALL_TABLE_DUMP_END;
out:
	mutex_unlock(&t->lock);
	return n;
}

void ffwall_table_get_stats(struct ffwall_table *t, struct ffwall_table_stats *s)
{
	struct ffwall_buckets *bk;

	mutex_lock(&t->lock);
	bk = ffwall_deref(t, t->cur);
	s->entries = t->count;
	s->pinned = t->pinned;
	s->buckets = 1ULL << bk->bits;
	s->portsets = t->nportsets;
	s->inserted = t->inserted;
	s->deleted = t->deleted;
	s->evicted = t->evicted;
	s->expired = t->expired;
	s->resizes = t->resizes;
	s->entry_size = kmem_cache_size(ffwall_entry_cache);
	s->bytes = (u64)t->count * s->entry_size + ffwall_buckets_bytes(bk->bits) +
		   FFWALL_MAX_PORTSETS * sizeof(struct ffwall_portset);
	mutex_unlock(&t->lock);
}

/* ------------------------------------------------------------------------ */
/* Records. */

/*
 * Validate an ADD record of the exact table into @a: ports sorted and
 * deduplicated.  -EINVAL for a malformed record, -EOPNOTSUPP for a valid
 * one this module cannot hold (a prefix).
 */
/*
 * Port slots [@from, FFWALL_MAX_PORTS) of @r all zero.  The common case of a
 * bulk load, a whole-address ban, reads the 16 bytes as two words instead of
 * testing eight slots.
 */
static bool ffwall_rule_ports_clear(const struct ffwall_rule *r, unsigned int from)
{
	unsigned int i;
	u64 lo, hi;

	BUILD_BUG_ON(sizeof(r->ports) != 2 * sizeof(u64));
	if (!from) {
		memcpy(&lo, &r->ports[0], sizeof(lo));
		memcpy(&hi, &r->ports[4], sizeof(hi));
		return !(lo | hi);
	}
	for (i = from; i < FFWALL_MAX_PORTS; i++)
		if (r->ports[i])
			return false;
	return true;
}

/*
 * Check an ADD record of the exact table: what ffwall_table_parse_rule()
 * accepts, without its output (a batch's validation pass).
 */
int ffwall_table_check_rule(const struct ffwall_rule *r)
{
	unsigned int i;

	if (r->reserved || r->flags & ~(FFWALL_F_PINNED | FFWALL_F_MONITOR) ||
	    r->ttl > FFWALL_TTL_MAX || r->nports > FFWALL_MAX_PORTS ||
	    r->prefix_len > 128)
		return -EINVAL;
	/* Slots below nports hold ports (non-zero), the rest are zero. */
	for (i = 0; i < r->nports; i++)
		if (!r->ports[i])
			return -EINVAL;
	if (!ffwall_rule_ports_clear(r, r->nports))
		return -EINVAL;
	if (r->prefix_len != 128)
		return -EOPNOTSUPP;
	return 0;
}

/*
 * Parse and check an ADD record of the exact table into @a.  It keeps no
 * local array (the ports are sorted straight into @a): it runs for every
 * record of a bulk load.
 */
int ffwall_table_parse_rule(const struct ffwall_rule *r, struct ffwall_add *a)
{
	int err;

	err = ffwall_table_check_rule(r);
	if (!err)
		ffwall_table_fill_rule(r, a);
	return err;
}

/*
 * Fill @a from record @r, which ffwall_table_check_rule() accepted: the
 * apply pass of a batch, over the kernel's own copy of the records, which
 * the check pass has already seen.
 */
void ffwall_table_fill_rule(const struct ffwall_rule *r, struct ffwall_add *a)
{
	unsigned int i, j, n = 0;

	memcpy(&a->key, r->addr, sizeof(a->key));
	a->flags = r->flags;
	a->ttl = r->ttl;
	/* A whole-address rule (a bulk load's): a->ports is not read. */
	if (!r->nports) {
		a->nports = 0;
		return;
	}
	memset(a->ports, 0, sizeof(a->ports));
	/* Insertion sort of at most 8 ports, dropping duplicates. */
	for (i = 0; i < r->nports; i++) {
		u16 p = r->ports[i];

		for (j = n; j > 0 && a->ports[j - 1] > p; j--)
			;
		if (j > 0 && a->ports[j - 1] == p)
			continue;
		memmove(&a->ports[j + 1], &a->ports[j], (n - j) * sizeof(*a->ports));
		a->ports[j] = p;
		n++;
	}
	a->nports = n;
}

/* Validate a DEL record: only the address, prefix_len and reserved count. */
int ffwall_table_parse_del(const struct ffwall_rule *r, struct ffwall_key *key)
{
	if (r->reserved || r->prefix_len > 128)
		return -EINVAL;
	if (r->prefix_len != 128)
		return -EOPNOTSUPP;
	memcpy(key, r->addr, sizeof(*key));
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The ban prefixes and the allowlist. */

static int ffwall_ban_portset_get(void *priv, const u16 *ports, u8 n, u16 *id)
{
	return ffwall_portset_get(priv, ports, n, id);
}

static void ffwall_ban_portset_put(void *priv, u16 id)
{
	ffwall_portset_put(priv, id);
}

static void ffwall_ban_portset_read(void *priv, u16 id, u16 *ports, u8 *n)
{
	ffwall_portset_read(priv, id, ports, n);
}

static void ffwall_ban_expired(void *priv, const struct ffwall_pfx *e, u32 now)
{
	ffwall_event_raise(FFWALL_EVENT_EXPIRED, &e->key, e->len, e->flags,
			   READ_ONCE(e->hits));
}

/* Every callback runs under t->lock, the ban set's writers' mutex. */
static const struct ffwall_pset_ops ffwall_ban_ops = {
	.portset_get = ffwall_ban_portset_get,
	.portset_put = ffwall_ban_portset_put,
	.portset_read = ffwall_ban_portset_read,
	.expired = ffwall_ban_expired,
};

/*
 * Create the ban prefixes (sharing t->lock and the port sets) and the
 * allowlist (its own mutex).  Call before the hooks see @t.
 */
int ffwall_table_prefixes_init(struct ffwall_table *t, u32 max_prefixes, u32 max_allow)
{
	t->ban = ffwall_pset_create(FFWALL_MATCH_PREFIX, max_prefixes, &t->lock,
				    &ffwall_ban_ops, t);
	if (!t->ban)
		return -ENOMEM;
	t->allow = ffwall_pset_create(FFWALL_MATCH_ALLOW, max_allow, NULL, NULL, NULL);
	if (!t->allow) {
		ffwall_pset_destroy(t->ban);
		t->ban = NULL;
		return -ENOMEM;
	}
	return 0;
}

/*
 * Destroy both sets once no hook can reach them; before ffwall_table_destroy().
 * Stops the reclaimer first: it walks t->ban.
 */
void ffwall_table_prefixes_exit(struct ffwall_table *t)
{
	WRITE_ONCE(t->dying, true);
	cancel_delayed_work_sync(&t->gc_work);
	ffwall_pset_destroy(t->allow);
	ffwall_pset_destroy(t->ban);
	t->allow = NULL;
	t->ban = NULL;
}

/* ------------------------------------------------------------------------ */
/* Life cycle. */

/* @gc_interval 0: no reclaimer worker (selftests call ffwall_table_gc()). */
struct ffwall_table *ffwall_table_create(u32 max_entries, u32 gc_interval)
{
	struct ffwall_buckets *bk;
	struct ffwall_table *t;

	t = kzalloc(sizeof(*t), GFP_KERNEL);
	if (!t)
		return NULL;
	t->portsets = kvcalloc(FFWALL_MAX_PORTSETS, sizeof(*t->portsets), GFP_KERNEL);
	if (!t->portsets)
		goto err_free_t;
	bk = ffwall_buckets_alloc(FFWALL_MIN_BITS);
	if (!bk)
		goto err_free_ps;
	mutex_init(&t->lock);
	seqcount_init(&t->seq);
	get_random_bytes(&t->hkey, sizeof(t->hkey));
	RCU_INIT_POINTER(t->cur, bk);
	RCU_INIT_POINTER(t->old, NULL);
	t->max_entries = max_entries;
	t->gc_interval = gc_interval;
	t->mode = FFWALL_MODE_ENFORCE;
	INIT_DEFERRABLE_WORK(&t->gc_work, ffwall_gc_work);
	if (gc_interval)
		schedule_delayed_work(&t->gc_work, gc_interval * HZ);
	else
		t->dying = true;	/* never (re)schedule the worker */
	return t;

err_free_ps:
	kvfree(t->portsets);
err_free_t:
	kfree(t);
	return NULL;
}

/* The caller guarantees that no new reader can find @t (hooks are gone). */
void ffwall_table_destroy(struct ffwall_table *t)
{
	WRITE_ONCE(t->dying, true);
	cancel_delayed_work_sync(&t->gc_work);
	synchronize_rcu();
	ffwall_free_buckets(rcu_dereference_protected(t->cur, 1));
	kvfree(t->portsets);
	mutex_destroy(&t->lock);
	kfree(t);
}

int ffwall_table_module_init(void)
{
	BUILD_BUG_ON(sizeof(struct ffwall_entry) != 40);
	BUILD_BUG_ON(sizeof(struct ffwall_key) != 16);
	/* No SLAB_HWCACHE_ALIGN: objects are packed 40 bytes apart. */
	ffwall_entry_cache = kmem_cache_create("ffwall_entry", sizeof(struct ffwall_entry),
					       0, 0, NULL);
	return ffwall_entry_cache ? 0 : -ENOMEM;
}

void ffwall_table_module_exit(void)
{
	/*
	 * Reaper batches are freed by call_rcu() callbacks, and on 6.1
	 * kmem_cache_destroy() does not wait for them: wait here.
	 */
	rcu_barrier();
	kmem_cache_destroy(ffwall_entry_cache);
}

#ifdef DEBUG
#include "selftest/table_selftest.c"
#endif
