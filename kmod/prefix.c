// SPDX-License-Identifier: GPL-2.0
/*
 * ffwall: prefix sets, the ban prefixes and the allowlist.
 *
 * A set holds (address, prefix length) pairs, the address masked to its
 * length, in one hash table keyed by both.  A bitmap of the lengths in use
 * lets a lookup probe only those, longest first: the cost of a lookup is
 * one hash and one short chain per length in use, whatever the number of
 * entries.  The locking rules are at struct ffwall_pset in prefix.h; the
 * design, memory and dump guarantee are in kmod/DESIGN-prefix.md.
 */
#include <linux/kernel.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/overflow.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "prefix.h"

unsigned int ffwall_max_prefixes = FFWALL_PFX_MAX_DEFAULT;
module_param_named(max_prefixes, ffwall_max_prefixes, uint, 0444);
MODULE_PARM_DESC(max_prefixes,
		 "Most ban prefix entries, never evicted; ADD beyond fails with ENOSPC (default 65536, at most 1048576)");

unsigned int ffwall_max_allow = FFWALL_PFX_MAX_DEFAULT;
module_param_named(max_allow, ffwall_max_allow, uint, 0444);
MODULE_PARM_DESC(max_allow,
		 "Most allowlist entries; ALLOW_ADD beyond fails with ENOSPC (default 65536, at most 1048576)");

/* Buckets walked between two cond_resched(). */
#define FFWALL_PFX_WALK_CHUNK	1024
/* Smallest bucket array: 2^4 buckets. */
#define FFWALL_PFX_MIN_BITS	4
/* Stale summary bits tolerated before a rebuild: at least this many. */
#define FFWALL_PFX_SUM_FLOOR	4096

static struct kmem_cache *ffwall_pfx_cache;

#define pset_deref(s, p) rcu_dereference_protected(p, lockdep_is_held((s)->lock))

void ffwall_pset_commit_locked(struct ffwall_pset *s)
{
	lockdep_assert_held(s->lock);
	ffwall_reap_flush(&s->reap);
}

/* ------------------------------------------------------------------------ */
/* Addresses. */

/* The first @bits bits of a word of the address, as it lies in memory. */
static inline u64 pfx_word_mask(unsigned int bits)
{
	if (!bits)
		return 0;
	return (__force u64)cpu_to_be64(~0ULL << (64 - bits));
}

void ffwall_key_mask(const struct ffwall_key *key, unsigned int len,
		     struct ffwall_key *out)
{
	out->w[0] = key->w[0] & pfx_word_mask(min(len, 64U));
	out->w[1] = key->w[1] & pfx_word_mask(len > 64 ? len - 64 : 0);
}

bool ffwall_key_host_bits_zero(const struct ffwall_key *key, unsigned int len)
{
	struct ffwall_key m;

	if (len >= 128)
		return true;
	ffwall_key_mask(key, len, &m);
	return m.w[0] == key->w[0] && m.w[1] == key->w[1];
}

/* ::ffff:0:0/96 */
bool ffwall_key_is_v4mapped(const struct ffwall_key *key)
{
	return !key->w[0] &&
	       (key->w[1] & pfx_word_mask(32)) ==
	       (__force u64)cpu_to_be64(0x0000ffff00000000ULL);
}

/*
 * An IPv4 prefix is a prefix of length 96..128 inside ::ffff:0:0/96.  A
 * shorter prefix that contains ::ffff:0:0/96 (::/0, ::/80, ...) is an IPv6
 * prefix, valid as such, and covers every IPv4 address too.
 */
bool ffwall_prefix_is_v4(const struct ffwall_key *key, unsigned int len)
{
	return len >= 96 && ffwall_key_is_v4mapped(key);
}

static inline bool pfx_key_eq(const struct ffwall_key *a, const struct ffwall_key *b)
{
	return a->w[0] == b->w[0] && a->w[1] == b->w[1];
}

/* ------------------------------------------------------------------------ */
/* Records. */

int ffwall_prefix_parse_rule(const struct ffwall_rule *r, struct ffwall_pfx_add *a)
{
	struct ffwall_rule exact;
	struct ffwall_add ea;
	int err;

	if (r->prefix_len >= 128)
		return -EINVAL;
	/*
	 * Flags, TTL, ports and reserved are checked, and the ports sorted,
	 * by the exact table's parser: one set of rules for both.
	 */
	exact = *r;
	exact.prefix_len = 128;
	err = ffwall_table_parse_rule(&exact, &ea);
	if (err)
		return err;
	if (!ffwall_key_host_bits_zero(&ea.key, r->prefix_len))
		return -EINVAL;
	memset(a, 0, sizeof(*a));
	a->key = ea.key;
	/* ea.ports is only filled up to ea.nports (ffwall_table_fill_rule()). */
	memcpy(a->ports, ea.ports, ea.nports * sizeof(*a->ports));
	a->nports = ea.nports;
	a->flags = ea.flags;
	a->ttl = ea.ttl;
	a->len = r->prefix_len;
	return 0;
}

int ffwall_allow_parse_rule(const struct ffwall_rule *r, struct ffwall_pfx_add *a)
{
	unsigned int i;

	if (r->reserved || r->nports || r->flags || r->ttl || r->prefix_len > 128)
		return -EINVAL;
	for (i = 0; i < FFWALL_MAX_PORTS; i++)
		if (r->ports[i])
			return -EINVAL;
	memset(a, 0, sizeof(*a));
	memcpy(&a->key, r->addr, sizeof(a->key));
	if (!ffwall_key_host_bits_zero(&a->key, r->prefix_len))
		return -EINVAL;
	a->len = r->prefix_len;
	return 0;
}

int ffwall_pfx_parse_del(const struct ffwall_rule *r, unsigned int max_len,
			 struct ffwall_key *key, u8 *len)
{
	if (r->reserved || r->prefix_len > max_len)
		return -EINVAL;
	memcpy(key, r->addr, sizeof(*key));
	if (!ffwall_key_host_bits_zero(key, r->prefix_len))
		return -EINVAL;
	*len = r->prefix_len;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Hashing and lookup. */

/*
 * An IPv4 prefix (length 96..127 inside ::ffff:0:0/96) is one word: its
 * address bits (host order, host bits zero), then a 1 bit, then zeros.  The
 * place of that marker bit gives the length, so the word alone names the
 * prefix and one hsiphash_1u32 hashes it.  A /32 (length 128, only in the
 * allowlist) fills the word, so its length goes in a second word; SipHash's
 * length byte keeps the two forms apart.
 */
static inline u32 pset_hash_v4(const struct ffwall_pset *s, u32 addr, unsigned int len)
{
	if (len < 128)
		return hsiphash_1u32(addr | BIT(127 - len), &s->hkey);
	return hsiphash_2u32(addr, len, &s->hkey);
}

/*
 * hsiphash of (masked key, length), keyed per set; see ffwall_hash() in
 * table.c for why hsiphash and why the 32-bit hash is the top of a u64.
 * An IPv4 prefix hashes one or two words (above), any other its 16 bytes
 * and its length (20 bytes).
 */
static inline u64 pset_hash(const struct ffwall_pset *s, const struct ffwall_key *k,
			    unsigned int len)
{
	u32 w[5];
	u32 h;

	if (len >= 96 && ffwall_key_v4(k)) {
		h = pset_hash_v4(s, ffwall_key_v4addr(k), len);
	} else {
		memcpy(w, k, sizeof(*k));
		w[4] = len;
		h = hsiphash(w, sizeof(w), &s->hkey);
	}
	return (u64)h << 32;
}

/* Buckets are ordered by hash: the index is the top bits of the hash. */
static inline u32 pset_bucket(const struct ffwall_pset *s, u64 h)
{
	return h >> (64 - s->bits);
}

/* The dump order: the top FFWALL_PSET_CURSOR_BITS bits of the hash. */
static inline u64 pset_ord(u64 h)
{
	return h >> (64 - FFWALL_PSET_CURSOR_BITS);
}

static inline bool pfx_expired(const struct ffwall_pfx *e, u32 now)
{
	u32 exp = READ_ONCE(e->expires);

	return exp && now >= exp;
}

/* The live entry @key/@len (@key not yet masked), or NULL. */
static struct ffwall_pfx *pset_probe_rcu(struct ffwall_pset *s,
					 struct ffwall_pfx_buckets *bk,
					 const struct ffwall_key *key,
					 unsigned int len, struct ffwall_clock *c)
{
	struct ffwall_key mk;
	struct ffwall_pfx *e;
	u64 h;

	if (len >= 96 && ffwall_key_v4(key)) {
		/* IPv4: mask one word instead of two, hash it at once. */
		u32 addr = ffwall_key_v4addr(key);

		if (len < 128)
			addr &= ~(U32_MAX >> (len - 96));
		ffwall_key_set_v4(&mk, addr);
		h = (u64)pset_hash_v4(s, addr, len) << 32;
	} else {
		ffwall_key_mask(key, len, &mk);
		h = pset_hash(s, &mk, len);
	}
#ifdef DEBUG
	s->probes++;
#endif
	for (e = rcu_dereference(bk->b[pset_bucket(s, h)]); e;
	     e = rcu_dereference(e->next))
		if (e->len == len && pfx_key_eq(&e->key, &mk))
			return pfx_expired(e, ffwall_clock_now(c)) ? NULL : e;
	return NULL;
}

/* The bits of key lengths 112..119 and 120..127 in their word of @lens. */
#define PSET_SUM_W16	GENMASK((FFWALL_PFX_SUM_LO24 - 1) % BITS_PER_LONG, \
				FFWALL_PFX_SUM_LO16 % BITS_PER_LONG)
#define PSET_SUM_W24	GENMASK(127 % BITS_PER_LONG, FFWALL_PFX_SUM_LO24 % BITS_PER_LONG)

/*
 * Drop from @lw (a copy of @lens) the groups of IPv4 lengths that the
 * summary rules out for the IPv4 address @key: 120..128 when @key's /24
 * holds no entry of those lengths, 112..119 when its /16 holds none of
 * those.  The summary is read only when @lw has a length of a group.
 */
static inline void pset_sum_filter(struct ffwall_pset *s, const struct ffwall_key *key,
				   unsigned long *lw)
{
	struct ffwall_pfx_sum *sum;
	bool g24, g16;
	u32 addr;

	BUILD_BUG_ON(BIT_WORD(FFWALL_PFX_SUM_LO16) != BIT_WORD(FFWALL_PFX_SUM_LO24 - 1));
	BUILD_BUG_ON(BIT_WORD(FFWALL_PFX_SUM_LO24) != BIT_WORD(127));
	g24 = (lw[BIT_WORD(FFWALL_PFX_SUM_LO24)] & PSET_SUM_W24) ||
	      (lw[BIT_WORD(128)] & BIT_MASK(128));
	g16 = lw[BIT_WORD(FFWALL_PFX_SUM_LO16)] & PSET_SUM_W16;
	if (!g24 && !g16)
		return;
	sum = rcu_dereference(s->sum);
	if (!sum)
		return;
	addr = ffwall_key_v4addr(key);
	if (g24 && !test_bit(addr >> 8, sum->s24)) {
		lw[BIT_WORD(FFWALL_PFX_SUM_LO24)] &= ~PSET_SUM_W24;
		lw[BIT_WORD(128)] &= ~BIT_MASK(128);
	}
	if (g16 && !test_bit(addr >> 16, sum->s16))
		lw[BIT_WORD(FFWALL_PFX_SUM_LO16)] &= ~PSET_SUM_W16;
}

/*
 * The longest live entry of length <= @max_len covering @key.  The lengths
 * in use are visited from the longest down, one bitmap word at a time; an
 * expired entry is a miss, and the next shorter length is tried.  For an
 * IPv4 address, the summary first rules out the groups of lengths that
 * hold nothing in its /24 or /16.
 */
static struct ffwall_pfx *pset_find_rcu(struct ffwall_pset *s,
					const struct ffwall_key *key,
					unsigned int max_len, struct ffwall_clock *c)
{
	struct ffwall_pfx_buckets *bk = rcu_dereference(s->buckets);
	unsigned long lw[FFWALL_PFX_LEN_WORDS];
	struct ffwall_pfx *e;
	unsigned long word;
	unsigned int base, b;
	int w;

	for (w = 0; w < FFWALL_PFX_LEN_WORDS; w++)
		lw[w] = READ_ONCE(s->lens[w]);
	if (max_len >= FFWALL_PFX_SUM_LO16 && ffwall_key_v4(key))
		pset_sum_filter(s, key, lw);
	for (w = FFWALL_PFX_LEN_WORDS - 1; w >= 0; w--) {
		base = w * BITS_PER_LONG;
		if (base > max_len)
			continue;
		word = lw[w];
		if (max_len - base < BITS_PER_LONG - 1)
			word &= (2UL << (max_len - base)) - 1;
		while (word) {
			b = __fls(word);
			word &= ~(1UL << b);
			e = pset_probe_rcu(s, bk, key, base + b, c);
			if (e)
				return e;
		}
	}
	return NULL;
}

/* A clock that was read already. */
#define PSET_CLOCK(n)	((struct ffwall_clock){ .now = (n), .read = true })

struct ffwall_pfx *__ffwall_pset_lookup_clock_rcu(struct ffwall_pset *s,
						  const struct ffwall_key *key,
						  struct ffwall_clock *c)
{
	return pset_find_rcu(s, key, s->max_len, c);
}

struct ffwall_pfx *ffwall_pset_lookup_rcu(struct ffwall_pset *s,
					  const struct ffwall_key *key, u32 now)
{
	struct ffwall_clock c = PSET_CLOCK(now);

	return pset_find_rcu(s, key, s->max_len, &c);
}

void ffwall_pfx_hit(struct ffwall_pfx *e, u32 now)
{
	WRITE_ONCE(e->hits, READ_ONCE(e->hits) + 1);
	if (READ_ONCE(e->last_hit) != now)
		WRITE_ONCE(e->last_hit, now);
}

bool ffwall_pset_covers(struct ffwall_pset *s, const struct ffwall_key *key,
			unsigned int len, u32 now)
{
	struct ffwall_clock c = PSET_CLOCK(now);
	bool ret;

	rcu_read_lock();
	ret = pset_find_rcu(s, key, min_t(unsigned int, len, s->max_len), &c);
	rcu_read_unlock();
	return ret;
}

void ffwall_pfx_fill_info(struct ffwall_pset *s, const struct ffwall_pfx *e,
			  u32 now, struct ffwall_entry_info *info)
{
	u16 ps = READ_ONCE(e->portset);
	u32 exp = READ_ONCE(e->expires);

	memset(info, 0, sizeof(*info));
	memcpy(info->rule.addr, &e->key, sizeof(info->rule.addr));
	info->rule.prefix_len = e->len;
	if (ps && s->ops && s->ops->portset_read)
		s->ops->portset_read(s->priv, ps, info->rule.ports, &info->rule.nports);
	info->rule.flags = READ_ONCE(e->flags);
	if (exp) {
		info->expires = exp;
		info->rule.ttl = exp > now ? exp - now : 0;
	}
	info->last_hit = READ_ONCE(e->last_hit);
	info->hits = READ_ONCE(e->hits);
	info->kind = s->kind;
}

bool ffwall_pset_lookup_info(struct ffwall_pset *s, const struct ffwall_key *key,
			     u32 now, struct ffwall_entry_info *info)
{
	struct ffwall_clock c = PSET_CLOCK(now);
	struct ffwall_pfx *e;

	memset(info, 0, sizeof(*info));
	rcu_read_lock();
	e = pset_find_rcu(s, key, s->max_len, &c);
	if (e)
		ffwall_pfx_fill_info(s, e, now, info);
	rcu_read_unlock();
	return e;
}

/* ------------------------------------------------------------------------ */
/* Writers. */

static void pset_len_get(struct ffwall_pset *s, unsigned int len)
{
	unsigned long *w = &s->lens[BIT_WORD(len)];

	if (!s->len_count[len]++)
		WRITE_ONCE(*w, *w | BIT_MASK(len));
}

static void pset_len_put(struct ffwall_pset *s, unsigned int len)
{
	unsigned long *w = &s->lens[BIT_WORD(len)];

	if (!--s->len_count[len])
		WRITE_ONCE(*w, *w & ~BIT_MASK(len));
}

/* Does the summary cover @key/@len (an IPv4 prefix of /16 or longer)? */
static inline bool pset_sum_covers(const struct ffwall_key *key, unsigned int len)
{
	return len >= FFWALL_PFX_SUM_LO16 && ffwall_key_v4(key);
}

static void pset_sum_mark(struct ffwall_pfx_sum *sum, const struct ffwall_key *key,
			  unsigned int len)
{
	u32 addr = ffwall_key_v4addr(key);

	if (len >= FFWALL_PFX_SUM_LO24)
		set_bit(addr >> 8, sum->s24);
	else
		set_bit(addr >> 16, sum->s16);
}

/* Stale bits tolerated: a rebuild costs O(buckets + entries), paid by them. */
static u64 pset_sum_threshold(const struct ffwall_pset *s)
{
	u64 t = max_t(u64, s->count, FFWALL_PFX_SUM_FLOOR);

	return max_t(u64, t, (1UL << s->bits) / 8);
}

/*
 * A fresh summary of the linked entries (expired ones too: they are still
 * found, then judged), or NULL without memory.  Nothing changes the chains
 * meanwhile: the lock is held.
 */
static struct ffwall_pfx_sum *pset_sum_build(struct ffwall_pset *s)
{
	struct ffwall_pfx_buckets *bk = pset_deref(s, s->buckets);
	struct ffwall_pfx_sum *sum;
	struct ffwall_pfx *e;
	unsigned int len;
	unsigned long b;
	bool any = false;

#ifdef DEBUG
	/* The selftests' stand-in for a failed allocation. */
	if (s->sum_fail) {
		s->sum_fail--;
		return NULL;
	}
#endif
	sum = kvzalloc(sizeof(*sum), GFP_KERNEL | __GFP_NOWARN);
	if (!sum)
		return NULL;
	for (len = FFWALL_PFX_SUM_LO16; len < FFWALL_PFX_NLENS; len++)
		any |= s->len_count[len] != 0;
	for (b = 0; any && b < bk->n; b++) {
		for (e = pset_deref(s, bk->b[b]); e; e = pset_deref(s, e->next))
			if (pset_sum_covers(&e->key, e->len))
				pset_sum_mark(sum, &e->key, e->len);
		if ((b & (FFWALL_PFX_WALK_CHUNK - 1)) == FFWALL_PFX_WALK_CHUNK - 1)
			cond_resched();
	}
	return sum;
}

/*
 * Replace the summary by one built afresh.  Without memory the old one
 * stays (its bits are a superset: still right, only slower), and a set
 * without one tries again after as many inserts as a rebuild tolerates
 * stale bits.  No synchronize_rcu(): the old summary goes by kvfree_rcu().
 */
static void pset_sum_rebuild(struct ffwall_pset *s)
{
	struct ffwall_pfx_sum *old = pset_deref(s, s->sum), *sum;

	s->sum_stale = 0;
	sum = pset_sum_build(s);
	if (!sum) {
		s->sum_retry = s->inserted + pset_sum_threshold(s);
		return;
	}
	s->sum_rebuilds++;
	rcu_assign_pointer(s->sum, sum);
	if (old)
		kvfree_rcu(old, rcu);
}

/* Before @key/@len is published: its bit, the summary made if need be. */
static void pset_sum_add(struct ffwall_pset *s, const struct ffwall_key *key,
			 unsigned int len)
{
	struct ffwall_pfx_sum *sum;

	if (!pset_sum_covers(key, len))
		return;
	sum = pset_deref(s, s->sum);
	if (!sum && s->inserted >= s->sum_retry) {
		pset_sum_rebuild(s);
		sum = pset_deref(s, s->sum);
	}
	if (sum)
		pset_sum_mark(sum, key, len);
}

/* Every entry is gone: no summary until the next one it would cover. */
static void pset_sum_drop(struct ffwall_pset *s)
{
	struct ffwall_pfx_sum *old = pset_deref(s, s->sum);

	RCU_INIT_POINTER(s->sum, NULL);
	s->sum_stale = 0;
	s->sum_retry = 0;
	if (old)
		kvfree_rcu(old, rcu);
}

/* After removals: rebuild once the stale bits outnumber the threshold. */
static void pset_sum_check(struct ffwall_pset *s)
{
	if (s->sum_stale > pset_sum_threshold(s))
		pset_sum_rebuild(s);
}

static void pset_portset_put(struct ffwall_pset *s, u16 id)
{
	if (id)
		s->ops->portset_put(s->priv, id);
}

static void pset_unlink(struct ffwall_pset *s, struct ffwall_pfx __rcu **pprev,
			struct ffwall_pfx *e)
{
	rcu_assign_pointer(*pprev, pset_deref(s, e->next));
	pset_len_put(s, e->len);
	/* Its summary bit stays: stale until the next rebuild. */
	if (pset_sum_covers(&e->key, e->len) && rcu_access_pointer(s->sum))
		s->sum_stale++;
	s->count--;
	pset_portset_put(s, e->portset);
	ffwall_reap(&s->reap, e);
}

/*
 * The link where @key/@len (hash @h) is or belongs in its chain, which is
 * sorted by hash; *@found is the entry if it is there.
 */
static struct ffwall_pfx __rcu **pset_slot(struct ffwall_pset *s,
					   const struct ffwall_key *key,
					   unsigned int len, u64 h,
					   struct ffwall_pfx **found)
{
	struct ffwall_pfx_buckets *bk = pset_deref(s, s->buckets);
	struct ffwall_pfx __rcu **pprev = &bk->b[pset_bucket(s, h)];
	struct ffwall_pfx *e;
	u64 eh;

	*found = NULL;
	while ((e = pset_deref(s, *pprev))) {
		eh = pset_hash(s, &e->key, e->len);
		if (eh > h)
			break;
		if (eh == h && e->len == len && pfx_key_eq(&e->key, key)) {
			*found = e;
			break;
		}
		pprev = &e->next;
	}
	return pprev;
}

static u32 pset_reclaim_bucket(struct ffwall_pset *s, struct ffwall_pfx_buckets *bk,
			       u32 b, u32 now)
{
	struct ffwall_pfx __rcu **pprev = &bk->b[b];
	struct ffwall_pfx *e;
	u32 n = 0;

	while ((e = pset_deref(s, *pprev))) {
		if (!pfx_expired(e, now)) {
			pprev = &e->next;
			continue;
		}
		if (s->ops && s->ops->expired)
			s->ops->expired(s->priv, e, now);
		pset_unlink(s, pprev, e);
		n++;
	}
	return n;
}

u32 ffwall_pset_gc_locked(struct ffwall_pset *s, u32 now)
{
	struct ffwall_pfx_buckets *bk = pset_deref(s, s->buckets);
	u32 b, n = 0;

	lockdep_assert_held(s->lock);
	for (b = 0; b < bk->n; b++) {
		n += pset_reclaim_bucket(s, bk, b, now);
		if ((b & (FFWALL_PFX_WALK_CHUNK - 1)) == FFWALL_PFX_WALK_CHUNK - 1)
			cond_resched();
	}
	s->expired += n;
	pset_sum_check(s);
	return n;
}

static u32 pfx_expiry(u32 now, u32 ttl)
{
	u64 exp;

	if (!ttl)
		return 0;
	exp = (u64)now + ttl;
	return exp >= U32_MAX ? U32_MAX : (u32)exp;
}

int ffwall_pset_add_locked(struct ffwall_pset *s, const struct ffwall_pfx_add *a,
			   u32 now, bool *created)
{
	struct ffwall_pfx __rcu **pprev;
	struct ffwall_pfx *e;
	u16 ps = 0, old_ps;
	u64 h;
	int err;

	lockdep_assert_held(s->lock);
	*created = false;
	if (a->len > s->max_len || !ffwall_key_host_bits_zero(&a->key, a->len) ||
	    (s->kind == FFWALL_MATCH_ALLOW && (a->nports || a->flags || a->ttl)))
		return -EINVAL;
	h = pset_hash(s, &a->key, a->len);
	pprev = pset_slot(s, &a->key, a->len, h, &e);
	if (!e && s->count >= s->max) {
		/* Full: only expired entries can make room; never evict. */
		if (!ffwall_pset_gc_locked(s, now))
			return -ENOSPC;
		pprev = pset_slot(s, &a->key, a->len, h, &e);
	}
	if (a->nports) {
		if (!s->ops || !s->ops->portset_get)
			return -EOPNOTSUPP;
		err = s->ops->portset_get(s->priv, a->ports, a->nports, &ps);
		if (err)
			return err;
	}

	if (e) {
		/* Replace in place; each field is one word for the readers. */
		old_ps = e->portset;
		if (pfx_expired(e, now)) {
			/* An expired entry is gone: this ADD creates anew. */
			WRITE_ONCE(e->hits, 0);
			WRITE_ONCE(e->last_hit, 0);
			s->inserted++;
			*created = true;
		}
		WRITE_ONCE(e->portset, ps);
		WRITE_ONCE(e->flags, a->flags);
		WRITE_ONCE(e->expires, pfx_expiry(now, a->ttl));
		pset_portset_put(s, old_ps);
		return 0;
	}

	e = kmem_cache_alloc(ffwall_pfx_cache, GFP_KERNEL | __GFP_NOWARN);
	if (!e) {
		pset_portset_put(s, ps);
		return -ENOMEM;
	}
	e->key = a->key;
	e->expires = pfx_expiry(now, a->ttl);
	e->last_hit = 0;
	e->hits = 0;
	e->portset = ps;
	e->flags = a->flags;
	e->len = a->len;
	/* The length and summary bits go up before the entry is published. */
	pset_sum_add(s, &a->key, a->len);
	pset_len_get(s, a->len);
	RCU_INIT_POINTER(e->next, pset_deref(s, *pprev));
	rcu_assign_pointer(*pprev, e);
	s->count++;
	s->inserted++;
	*created = true;
	return 0;
}

void ffwall_pset_del_locked(struct ffwall_pset *s, const struct ffwall_key *key,
			    u8 len, u32 now, bool *removed)
{
	struct ffwall_pfx __rcu **pprev;
	struct ffwall_pfx *e;

	lockdep_assert_held(s->lock);
	*removed = false;
	if (len > s->max_len)
		return;
	pprev = pset_slot(s, key, len, pset_hash(s, key, len), &e);
	if (!e)
		return;
	*removed = !pfx_expired(e, now);
	pset_unlink(s, pprev, e);
	s->deleted++;
	pset_sum_check(s);
}

/* Free every entry of @bk, which no reader can see any more. */
static void pset_free_buckets(struct ffwall_pfx_buckets *bk)
{
	struct ffwall_pfx *e, *next;
	unsigned long b;

	for (b = 0; b < bk->n; b++) {
		for (e = rcu_dereference_raw(bk->b[b]); e; e = next) {
			next = rcu_dereference_raw(e->next);
			kmem_cache_free(ffwall_pfx_cache, e);
		}
		if ((b & (FFWALL_PFX_WALK_CHUNK - 1)) == FFWALL_PFX_WALK_CHUNK - 1)
			cond_resched();
	}
	kvfree(bk);
}

static struct ffwall_pfx_buckets *pset_buckets_alloc(unsigned int bits)
{
	struct ffwall_pfx_buckets *bk;

	bk = kvzalloc(struct_size(bk, b, 1UL << bits), GFP_KERNEL | __GFP_NOWARN);
	if (bk)
		bk->n = 1UL << bits;
	return bk;
}

/* Unlink the entries whose flags include @with_flags (0: every entry). */
static u64 pset_flush_walk(struct ffwall_pset *s, u8 with_flags)
{
	struct ffwall_pfx_buckets *bk = pset_deref(s, s->buckets);
	struct ffwall_pfx __rcu **pprev;
	struct ffwall_pfx *e;
	unsigned long b;
	u64 n = 0;

	for (b = 0; b < bk->n; b++) {
		pprev = &bk->b[b];
		while ((e = pset_deref(s, *pprev))) {
			if ((e->flags & with_flags) != with_flags) {
				pprev = &e->next;
				continue;
			}
			pset_unlink(s, pprev, e);
			n++;
		}
		if ((b & (FFWALL_PFX_WALK_CHUNK - 1)) == FFWALL_PFX_WALK_CHUNK - 1)
			cond_resched();
	}
	return n;
}

u64 ffwall_pset_flush_locked(struct ffwall_pset *s, u8 with_flags)
{
	struct ffwall_pfx_buckets *old, *nb = NULL;
	struct ffwall_pfx_sum *old_sum;
	struct ffwall_pfx *e;
	unsigned long b;
	u64 n;
	int w;

	lockdep_assert_held(s->lock);
	if (!with_flags && s->count)
		nb = pset_buckets_alloc(s->bits);
	if (!nb) {
		/* By flags, or no memory for an empty array: unlink in batches. */
		n = pset_flush_walk(s, with_flags);
		s->deleted += n;
		if (with_flags)
			pset_sum_check(s);
		else
			pset_sum_drop(s);
		return n;
	}

	old = pset_deref(s, s->buckets);
	rcu_assign_pointer(s->buckets, nb);
	/* No summary until the next IPv4 entry of /16 or longer. */
	old_sum = pset_deref(s, s->sum);
	RCU_INIT_POINTER(s->sum, NULL);
	s->sum_stale = 0;
	s->sum_retry = 0;
	for (w = 0; w < FFWALL_PFX_LEN_WORDS; w++)
		WRITE_ONCE(s->lens[w], 0);
	memset(s->len_count, 0, sizeof(s->len_count));
	n = s->count;
	s->count = 0;
	s->deleted += n;
	/* The port set ids become zombies until their own grace period. */
	for (b = 0; b < old->n; b++)
		for (e = pset_deref(s, old->b[b]); e; e = pset_deref(s, e->next))
			pset_portset_put(s, e->portset);
	synchronize_rcu();
	kvfree(old_sum);
	pset_free_buckets(old);
	return n;
}

/* ------------------------------------------------------------------------ */
/* The same, taking the lock. */

int ffwall_pset_add(struct ffwall_pset *s, const struct ffwall_pfx_add *recs,
		    u32 n, u32 now, u32 *applied, u32 *changed)
{
	bool created;
	int err = 0;
	u32 i;

	*changed = 0;
	mutex_lock(s->lock);
	for (i = 0; i < n; i++) {
		err = ffwall_pset_add_locked(s, &recs[i], now, &created);
		if (err)
			break;
		if (created)
			(*changed)++;
		if ((i & 255) == 255)
			cond_resched();
	}
	*applied = i;
	ffwall_reap_flush(&s->reap);
	mutex_unlock(s->lock);
	return err;
}

void ffwall_pset_del(struct ffwall_pset *s, const struct ffwall_pfx_add *recs,
		     u32 n, u32 now, u32 *changed)
{
	bool removed;
	u32 i;

	*changed = 0;
	mutex_lock(s->lock);
	for (i = 0; i < n; i++) {
		ffwall_pset_del_locked(s, &recs[i].key, recs[i].len, now, &removed);
		if (removed)
			(*changed)++;
		if ((i & 255) == 255)
			cond_resched();
	}
	ffwall_reap_flush(&s->reap);
	mutex_unlock(s->lock);
}

u64 ffwall_pset_flush(struct ffwall_pset *s, u8 with_flags)
{
	u64 n;

	mutex_lock(s->lock);
	n = ffwall_pset_flush_locked(s, with_flags);
	ffwall_reap_flush(&s->reap);
	mutex_unlock(s->lock);
	return n;
}

u32 ffwall_pset_gc(struct ffwall_pset *s, u32 now)
{
	u32 n;

	mutex_lock(s->lock);
	n = ffwall_pset_gc_locked(s, now);
	ffwall_reap_flush(&s->reap);
	mutex_unlock(s->lock);
	return n;
}

/* ------------------------------------------------------------------------ */
/* DUMP and STATS. */

static bool pfx_dump_wanted(const struct ffwall_pfx *e, u32 now, u64 hit_since)
{
	if (pfx_expired(e, now))
		return false;
	return !hit_since || READ_ONCE(e->last_hit) >= hit_since;
}

/*
 * The walk visits entries in increasing order of pset_ord(hash): bucket by
 * bucket (a bucket is a range of that order, at the set's fixed size) and
 * along each chain (sorted by hash).  The cursor is the next order value to
 * visit.  An entry's hash is fixed for the life of the set (the key of the
 * hash never changes, a flush keeps it), so an entry present for the whole
 * walk is met exactly once.  Entries of equal order (a hash collision)
 * are returned by the same call.  Each call holds the lock.
 */
u32 ffwall_pset_dump(struct ffwall_pset *s, struct ffwall_entry_info *out,
		     u32 max, u64 *cursor, u64 hit_since, u32 now)
{
	struct ffwall_pfx_buckets *bk;
	struct ffwall_pfx *e, *g;
	u64 pos = *cursor, ord;
	unsigned long b;
	u32 n = 0, group;

	if (pos >= FFWALL_PSET_DUMP_END) {
		*cursor = FFWALL_PSET_DUMP_END;
		return 0;
	}
	mutex_lock(s->lock);
	bk = pset_deref(s, s->buckets);
	for (b = pos >> (FFWALL_PSET_CURSOR_BITS - s->bits); b < bk->n; b++) {
		e = pset_deref(s, bk->b[b]);
		while (e) {
			ord = pset_ord(pset_hash(s, &e->key, e->len));
			if (ord < pos) {
				e = pset_deref(s, e->next);
				continue;
			}
			/* The group of entries of this order: adjacent. */
			group = 0;
			for (g = e; g && pset_ord(pset_hash(s, &g->key, g->len)) == ord;
			     g = pset_deref(s, g->next))
				group += pfx_dump_wanted(g, now, hit_since);
			/*
			 * A group larger than @max (>= 8 entries of equal
			 * 32-bit hash) is cut, the only case where an entry
			 * may be skipped.
			 */
			if (n && n + group > max) {
				*cursor = ord;
				goto out;
			}
			for (; e != g; e = pset_deref(s, e->next))
				if (n < max && pfx_dump_wanted(e, now, hit_since))
					ffwall_pfx_fill_info(s, e, now, &out[n++]);
			pos = ord + 1;
		}
		if ((b & (FFWALL_PFX_WALK_CHUNK - 1)) == FFWALL_PFX_WALK_CHUNK - 1)
			cond_resched();
	}
	*cursor = FFWALL_PSET_DUMP_END;
out:
	mutex_unlock(s->lock);
	return n;
}

void ffwall_pset_get_stats(struct ffwall_pset *s, struct ffwall_pset_stats *st)
{
	int w;

	mutex_lock(s->lock);
	st->entries = s->count;
	st->max = s->max;
	st->lengths = 0;
	for (w = 0; w < FFWALL_PFX_LEN_WORDS; w++)
		st->lengths += hweight_long(s->lens[w]);
	st->inserted = s->inserted;
	st->deleted = s->deleted;
	st->expired = s->expired;
	st->entry_size = kmem_cache_size(ffwall_pfx_cache);
	st->buckets = 1ULL << s->bits;
	st->bytes = (u64)s->count * st->entry_size + sizeof(*s) +
		    struct_size((struct ffwall_pfx_buckets *)NULL, b, 1UL << s->bits);
	if (rcu_access_pointer(s->sum))
		st->bytes += sizeof(struct ffwall_pfx_sum);
	mutex_unlock(s->lock);
}

/* ------------------------------------------------------------------------ */
/* Life cycle. */

struct ffwall_pset *ffwall_pset_create(u8 kind, u32 max, struct mutex *lock,
				       const struct ffwall_pset_ops *ops, void *priv)
{
	struct ffwall_pfx_buckets *bk;
	struct ffwall_pset *s;
	int bits;

	if ((kind != FFWALL_MATCH_PREFIX && kind != FFWALL_MATCH_ALLOW) ||
	    max < FFWALL_PFX_MAX_MIN || max > FFWALL_PFX_MAX_MAX)
		return NULL;
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return NULL;
	/* At most two entries per bucket when full; the size never changes. */
	bits = max_t(int, FFWALL_PFX_MIN_BITS, order_base_2(max) - 1);
	bk = pset_buckets_alloc(bits);
	if (!bk) {
		kfree(s);
		return NULL;
	}
	mutex_init(&s->own_lock);
	s->lock = lock ? lock : &s->own_lock;
	s->reap.cache = ffwall_pfx_cache;
	RCU_INIT_POINTER(s->buckets, bk);
	get_random_bytes(&s->hkey, sizeof(s->hkey));
	s->bits = bits;
	s->kind = kind;
	s->max_len = kind == FFWALL_MATCH_ALLOW ? 128 : 127;
	s->max = max;
	s->ops = ops;
	s->priv = priv;
	return s;
}

/*
 * No reader can find @s any more; wait for those that did, then free.  No
 * ops callback is called: the owner drops its port sets wholesale.
 */
void ffwall_pset_destroy(struct ffwall_pset *s)
{
	if (!s)
		return;
	synchronize_rcu();
	ffwall_reap_flush(&s->reap);
	pset_free_buckets(rcu_dereference_protected(s->buckets, 1));
	kvfree(rcu_dereference_protected(s->sum, 1));
	mutex_destroy(&s->own_lock);
	kfree(s);
}

int ffwall_prefix_module_init(void)
{
	BUILD_BUG_ON(sizeof(struct ffwall_pfx) != 40);
	BUILD_BUG_ON(sizeof(struct ffwall_key) != 16);

	if (ffwall_max_prefixes < FFWALL_PFX_MAX_MIN ||
	    ffwall_max_prefixes > FFWALL_PFX_MAX_MAX) {
		pr_err("max_prefixes=%u out of range %u..%u\n", ffwall_max_prefixes,
		       FFWALL_PFX_MAX_MIN, FFWALL_PFX_MAX_MAX);
		return -EINVAL;
	}
	if (ffwall_max_allow < FFWALL_PFX_MAX_MIN || ffwall_max_allow > FFWALL_PFX_MAX_MAX) {
		pr_err("max_allow=%u out of range %u..%u\n", ffwall_max_allow,
		       FFWALL_PFX_MAX_MIN, FFWALL_PFX_MAX_MAX);
		return -EINVAL;
	}
	/* No SLAB_HWCACHE_ALIGN: objects are packed 40 bytes apart. */
	ffwall_pfx_cache = kmem_cache_create("ffwall_prefix", sizeof(struct ffwall_pfx),
					     0, 0, NULL);
	return ffwall_pfx_cache ? 0 : -ENOMEM;
}

void ffwall_prefix_module_exit(void)
{
	/*
	 * Batches are freed by call_rcu() callbacks, and on 6.1
	 * kmem_cache_destroy() does not wait for them: wait here.
	 */
	rcu_barrier();
	kmem_cache_destroy(ffwall_pfx_cache);
}

#ifdef DEBUG
#include "selftest/prefix.c"
#endif
