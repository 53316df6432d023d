// SPDX-License-Identifier: GPL-2.0
/*
 * ffwall: selftests of the exact-address table, run at load under DEBUG
 * (Debian's kernels have no KUnit).  #included by table.c, so they can see
 * its internals.  Each case runs on a private table with a fake clock.
 */
#include <linux/bitmap.h>

enum ffwall_st_op {
	ST_END,
	ST_ADD,		/* a, flags, ports, val: ttl; expect 0 */
	ST_ADD_ERR,	/* as ADD, val: the expected negative errno */
	ST_DEL,		/* a */
	ST_HIT,		/* a: present, and count a packet hit */
	ST_PRESENT,	/* a: a live entry */
	ST_ABSENT,	/* a: no live entry */
	ST_WHOLE,	/* a: a live whole-address entry */
	ST_PORT,	/* a, ports[0]: port-scoped, port in the set */
	ST_NOPORT,	/* a, ports[0]: port-scoped, port not in the set */
	ST_CLOCK,	/* val: the fake time */
	ST_CLEAR_REFS,	/* a full turn of the hand without eviction */
	ST_TOUCH_ALL,	/* every entry referenced */
	ST_GC,		/* one reclaimer pass */
	ST_SETMAX,	/* val: max_entries; expect 0 */
	ST_SETMAX_ERR,	/* val: max_entries; expect -ENOSPC */
	ST_FLUSH,	/* flags: with_flags; val: expected removed */
	ST_COUNT,	/* val: entries */
	ST_PINNED,	/* val: pinned entries */
	ST_EVICTED,	/* val: evictions so far */
	ST_EXPIRED,	/* val: reclaimed expiries so far */
	ST_PORTSETS,	/* val: port sets in use */
	ST_HITS,	/* a, val: the entry's hit count */
};

struct ffwall_st_step {
	u8 op;
	u8 a;		/* address: 1..99 = ::ffff:10.0.0.a, 100.. = 2001:db8::a */
	u8 flags;
	u8 nports;
	u16 ports[FFWALL_MAX_PORTS];
	s32 val;
};

struct ffwall_st_case {
	const char *name;
	u32 max_entries;
	const struct ffwall_st_step *steps;
};

#define P	FFWALL_F_PINNED
#define M	FFWALL_F_MONITOR

static const struct ffwall_st_step ffwall_st_basic[] = {
	{ ST_CLOCK, .val = 1000 },
	{ ST_ABSENT, 1 },
	{ ST_ADD, 1 },
	{ ST_ADD, 2 },
	{ ST_ADD, 150 },
	{ ST_WHOLE, 1 },
	{ ST_WHOLE, 2 },
	{ ST_WHOLE, 150 },
	{ ST_ABSENT, 3 },
	{ ST_ABSENT, 151 },
	{ ST_COUNT, .val = 3 },
	{ ST_HIT, 1 },
	{ ST_HIT, 1 },
	{ ST_HITS, 1, .val = 2 },
	{ ST_ADD, 1 },			/* an update keeps the hits */
	{ ST_HITS, 1, .val = 2 },
	{ ST_COUNT, .val = 3 },
	{ ST_DEL, 2 },
	{ ST_ABSENT, 2 },
	{ ST_PRESENT, 1 },
	{ ST_DEL, 2 },			/* deleting twice is harmless */
	{ ST_DEL, 150 },
	{ ST_COUNT, .val = 1 },
	{ ST_FLUSH, .val = 1 },
	{ ST_ABSENT, 1 },
	{ ST_COUNT, .val = 0 },
	{ ST_END }
};

static const struct ffwall_st_step ffwall_st_expiry[] = {
	{ ST_CLOCK, .val = 1000 },
	{ ST_ADD, 1, .val = 10 },
	{ ST_ADD, 2, .val = 0 },
	{ ST_ADD, 3, .val = 10 },
	{ ST_CLOCK, .val = 1005 },
	{ ST_ADD, 3, .val = 10 },	/* re-arms: now expires at 1015 */
	{ ST_CLOCK, .val = 1009 },
	{ ST_PRESENT, 1 },
	{ ST_CLOCK, .val = 1010 },
	{ ST_ABSENT, 1 },		/* expired: a miss at once */
	{ ST_PRESENT, 3 },
	{ ST_COUNT, .val = 3 },		/* ... but not yet reclaimed */
	{ ST_GC },
	{ ST_COUNT, .val = 2 },
	{ ST_EXPIRED, .val = 1 },
	{ ST_CLOCK, .val = 1015 },
	{ ST_ABSENT, 3 },
	{ ST_CLOCK, .val = 2000000000 },
	{ ST_PRESENT, 2 },		/* TTL 0: never expires */
	{ ST_ADD, 1, .val = 1 },	/* the same address again, fresh */
	{ ST_PRESENT, 1 },
	{ ST_GC },
	{ ST_COUNT, .val = 2 },
	{ ST_EXPIRED, .val = 2 },
	{ ST_END }
};

/* CLOCK: an entry hit since the hand last passed survives. */
static const struct ffwall_st_step ffwall_st_clock[] = {
	{ ST_CLOCK, .val = 1000 },
	{ ST_ADD, 1 },
	{ ST_ADD, 2 },
	{ ST_ADD, 3 },
	{ ST_ADD, 4 },
	{ ST_CLEAR_REFS },
	{ ST_HIT, 1 },
	{ ST_HIT, 3 },
	{ ST_ADD, 5 },			/* evicts 2 or 4 */
	{ ST_COUNT, .val = 4 },
	{ ST_EVICTED, .val = 1 },
	{ ST_ADD, 6 },			/* evicts the other one */
	{ ST_EVICTED, .val = 2 },
	{ ST_ABSENT, 2 },
	{ ST_ABSENT, 4 },
	{ ST_PRESENT, 1 },
	{ ST_PRESENT, 3 },
	{ ST_PRESENT, 5 },
	{ ST_PRESENT, 6 },
	{ ST_SETMAX, .val = 2 },	/* lowering the cap evicts down to it */
	{ ST_COUNT, .val = 2 },
	{ ST_EVICTED, .val = 4 },
	{ ST_CLOCK, .val = 1001 },
	{ ST_SETMAX, .val = 4 },
	{ ST_ADD, 7, .val = 5 },
	{ ST_ADD, 8 },
	{ ST_TOUCH_ALL },
	{ ST_CLOCK, .val = 1006 },	/* 7 expired: the preferred victim */
	{ ST_ADD, 9 },
	{ ST_ABSENT, 7 },
	{ ST_COUNT, .val = 4 },
	{ ST_EVICTED, .val = 4 },
	{ ST_EXPIRED, .val = 1 },
	{ ST_END }
};

static const struct ffwall_st_step ffwall_st_pinned[] = {
	{ ST_CLOCK, .val = 1000 },
	{ ST_ADD, 1, P },
	{ ST_ADD, 2, P },
	{ ST_ADD, 3, P },
	{ ST_PINNED, .val = 3 },
	{ ST_ADD_ERR, 4, .val = -ENOSPC },	/* full of pinned entries */
	{ ST_COUNT, .val = 3 },
	{ ST_DEL, 2 },
	{ ST_PINNED, .val = 2 },
	{ ST_ADD, 4 },
	{ ST_ADD, 5 },				/* the only victim is 4 */
	{ ST_ABSENT, 4 },
	{ ST_PRESENT, 1 },
	{ ST_PRESENT, 3 },
	{ ST_PRESENT, 5 },
	{ ST_SETMAX_ERR, .val = 1 },		/* below the pinned count */
	{ ST_ADD, 5, P },			/* pinning by update */
	{ ST_PINNED, .val = 3 },
	{ ST_ADD_ERR, 6, .val = -ENOSPC },
	{ ST_ADD, 1 },				/* unpinning by update */
	{ ST_PINNED, .val = 2 },
	{ ST_ADD, 6 },
	{ ST_ABSENT, 1 },
	{ ST_ADD, 7, P, .val = 10 },		/* pinned entries still expire */
	{ ST_ABSENT, 6 },
	{ ST_CLOCK, .val = 1010 },
	{ ST_ABSENT, 7 },
	{ ST_ADD, 8 },				/* room from an expired pinned one */
	{ ST_PRESENT, 8 },
	{ ST_FLUSH, 0, P, .val = 2 },		/* with_flags: only pinned */
	{ ST_PRESENT, 8 },
	{ ST_PINNED, .val = 0 },
	{ ST_COUNT, .val = 1 },
	{ ST_END }
};

static const struct ffwall_st_step ffwall_st_ports[] = {
	{ ST_CLOCK, .val = 1000 },
	{ ST_ADD, 1, 0, 3, { 25, 465, 587 } },
	{ ST_PORT, 1, 0, 1, { 25 } },
	{ ST_PORT, 1, 0, 1, { 587 } },
	{ ST_NOPORT, 1, 0, 1, { 80 } },
	{ ST_PORTSETS, .val = 1 },
	{ ST_ADD, 2, 0, 4, { 587, 25, 465, 25 } },	/* same set, interned */
	{ ST_PORTSETS, .val = 1 },
	{ ST_PORT, 2, 0, 1, { 465 } },
	{ ST_ADD, 3, 0, 1, { 80 } },
	{ ST_PORTSETS, .val = 2 },
	{ ST_NOPORT, 3, 0, 1, { 25 } },
	{ ST_DEL, 3 },
	{ ST_PORTSETS, .val = 1 },
	{ ST_ADD, 1 },					/* now the whole address */
	{ ST_WHOLE, 1 },
	{ ST_PORTSETS, .val = 1 },
	{ ST_ADD, 2, 0, 1, { 22 } },			/* ports replaced */
	{ ST_PORT, 2, 0, 1, { 22 } },
	{ ST_NOPORT, 2, 0, 1, { 25 } },
	{ ST_PORTSETS, .val = 1 },
	{ ST_ADD, 150, M, 8, { 1, 2, 3, 4, 5, 6, 7, 65535 } },
	{ ST_PORT, 150, 0, 1, { 65535 } },
	{ ST_PORTSETS, .val = 2 },
	{ ST_FLUSH, .val = 3 },
	{ ST_PORTSETS, .val = 0 },
	{ ST_END }
};

#undef P
#undef M

static const struct ffwall_st_case ffwall_st_cases[] = {
	{ "basic", 100, ffwall_st_basic },
	{ "expiry", 100, ffwall_st_expiry },
	{ "clock", 4, ffwall_st_clock },
	{ "pinned", 3, ffwall_st_pinned },
	{ "ports", 100, ffwall_st_ports },
};

static void ffwall_st_key(u32 a, struct ffwall_key *k)
{
	u8 *b = (u8 *)k;

	memset(k, 0, sizeof(*k));
	if (a < 100) {
		b[10] = 0xff;
		b[11] = 0xff;
		b[12] = 10;
		b[15] = a;
	} else {
		b[0] = 0x20;
		b[1] = 0x01;
		b[2] = 0x0d;
		b[3] = 0xb8;
		b[14] = a >> 8;
		b[15] = a;
	}
}

static int ffwall_st_add(struct ffwall_table *t, const struct ffwall_st_step *s, u32 a)
{
	struct ffwall_rule r = {};
	struct ffwall_add add;
	u32 applied, changed;
	struct ffwall_key k;
	int err;

	ffwall_st_key(a, &k);
	memcpy(r.addr, &k, sizeof(r.addr));
	r.prefix_len = 128;
	r.flags = s ? s->flags : 0;
	r.ttl = s && s->op == ST_ADD ? s->val : 0;
	r.nports = s ? s->nports : 0;
	if (s)
		memcpy(r.ports, s->ports, sizeof(r.ports));
	err = ffwall_table_parse_rule(&r, &add);
	if (err)
		return err;
	return ffwall_table_add(t, &add, 1, &applied, &changed);
}

static void ffwall_st_set_refs(struct ffwall_table *t, u8 ref)
{
	struct ffwall_buckets *bk;
	struct ffwall_entry *e;
	u32 i;

	mutex_lock(&t->lock);
	bk = ffwall_deref(t, t->cur);
	for (i = 0; i < (1U << bk->bits); i++)
		for (e = ffwall_deref(t, bk->b[i]); e; e = ffwall_deref(t, e->next))
			e->ref = ref;
	mutex_unlock(&t->lock);
}

static int ffwall_st_do(struct ffwall_table *t, const struct ffwall_st_step *s)
{
	struct ffwall_entry *e = NULL;
	u32 applied, changed;
	struct ffwall_key k;
	u64 removed;
	bool ok = true;
	u16 ps = 0;
	u32 now, hits = 0;
	int err;

	ffwall_st_key(s->a, &k);
	now = ffwall_table_now(t);
	rcu_read_lock();
	e = ffwall_table_lookup_rcu(t, &k, now);
	if (e) {
		ps = READ_ONCE(e->portset);
		hits = READ_ONCE(e->hits);
	}
	switch (s->op) {
	case ST_HIT:
		if (e)
			ffwall_table_hit(e, now);
		fallthrough;
	case ST_PRESENT:
		ok = e;
		break;
	case ST_ABSENT:
		ok = !e;
		break;
	case ST_WHOLE:
		ok = e && !ps;
		break;
	case ST_PORT:
		ok = e && ps && ffwall_table_port_match(t, ps, s->ports[0]);
		break;
	case ST_NOPORT:
		ok = e && ps && !ffwall_table_port_match(t, ps, s->ports[0]);
		break;
	case ST_HITS:
		ok = e && hits == s->val;
		break;
	}
	rcu_read_unlock();
	if (!ok)
		return -EINVAL;

	switch (s->op) {
	case ST_ADD:
		return ffwall_st_add(t, s, s->a);
	case ST_ADD_ERR:
		return ffwall_st_add(t, s, s->a) == s->val ? 0 : -EINVAL;
	case ST_DEL:
		return ffwall_table_del(t, &k, 1, &applied, &changed);
	case ST_CLOCK:
		WRITE_ONCE(t->fake_now, s->val);
		return 0;
	case ST_CLEAR_REFS:
	case ST_TOUCH_ALL:
		ffwall_st_set_refs(t, s->op == ST_TOUCH_ALL);
		return 0;
	case ST_GC:
		ffwall_table_gc(t);
		return 0;
	case ST_SETMAX:
		return ffwall_table_set_max(t, s->val);
	case ST_SETMAX_ERR:
		return ffwall_table_set_max(t, s->val) == -ENOSPC ? 0 : -EINVAL;
	case ST_FLUSH:
		err = ffwall_table_flush(t, s->flags, &removed);
		return err ?: (removed == s->val ? 0 : -EINVAL);
	case ST_COUNT:
		return t->count == s->val ? 0 : -EINVAL;
	case ST_PINNED:
		return t->pinned == s->val ? 0 : -EINVAL;
	case ST_EVICTED:
		return t->evicted == s->val ? 0 : -EINVAL;
	case ST_EXPIRED:
		return t->expired == s->val ? 0 : -EINVAL;
	case ST_PORTSETS:
		return t->nportsets == s->val ? 0 : -EINVAL;
	}
	return 0;
}

static int ffwall_st_run_case(const struct ffwall_st_case *c)
{
	const struct ffwall_st_step *s;
	struct ffwall_table *t;
	int err = 0;

	t = ffwall_table_create(c->max_entries, 0);
	if (!t)
		return -ENOMEM;
	for (s = c->steps; s->op != ST_END; s++) {
		err = ffwall_st_do(t, s);
		if (err) {
			pr_err("selftest %s: step %td (op %u, address %u) failed: %d\n",
			       c->name, s - c->steps, s->op, s->a, err);
			break;
		}
	}
	ffwall_table_destroy(t);
	return err;
}

/* Records that must be refused, and the errno. */
static int ffwall_st_parse(void)
{
	static const struct {
		struct ffwall_rule r;
		int err;
	} bad[] = {
		{ { .prefix_len = 128, .reserved = 1 }, -EINVAL },
		{ { .prefix_len = 128, .flags = 4 }, -EINVAL },
		{ { .prefix_len = 128, .nports = 9 }, -EINVAL },
		{ { .prefix_len = 128, .nports = 1 }, -EINVAL },
		{ { .prefix_len = 128, .ports = { 25 } }, -EINVAL },
		{ { .prefix_len = 128, .nports = 1, .ports = { 25, 0, 7 } }, -EINVAL },
		{ { .prefix_len = 128, .ttl = 0x80000000U }, -EINVAL },
		{ { .prefix_len = 129 }, -EINVAL },
		{ { .prefix_len = 120 }, -EOPNOTSUPP },
		{ { .prefix_len = 0 }, -EOPNOTSUPP },
	};
	struct ffwall_add a;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		if (ffwall_table_parse_rule(&bad[i].r, &a) != bad[i].err) {
			pr_err("selftest parse: record %u accepted or wrong errno\n", i);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Growth, shrink and DUMP over resizes: every entry present for the whole
 * dump comes back exactly once.
 */
#define ST_BIG	3000

static int ffwall_st_big(void)
{
	struct ffwall_entry_info *out;
	struct ffwall_add add = {};
	unsigned long *seen;
	struct ffwall_table *t;
	struct ffwall_key k;
	u32 i, n, a, applied, changed, extra = 0;
	u64 cursor = 0;
	int err = -EINVAL;

	t = ffwall_table_create(4 * ST_BIG, 0);
	out = kcalloc(16, sizeof(*out), GFP_KERNEL);
	seen = bitmap_zalloc(ST_BIG, GFP_KERNEL);
	if (!t || !out || !seen) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < ST_BIG; i++) {
		memset(&k, 0, sizeof(k));
		k.w[0] = 0x1234;
		k.w[1] = i;
		add.key = k;
		if (ffwall_table_add(t, &add, 1, &applied, &changed))
			goto fail;
	}
	if (t->count != ST_BIG || !t->resizes)
		goto fail;
	for (i = 0; i < ST_BIG; i++) {
		k.w[0] = 0x1234;
		k.w[1] = i;
		if (!ffwall_table_info(t, &k, &out[0], &a))
			goto fail;
	}
	/* Dump 16 at a time while the table keeps growing. */
	do {
		n = ffwall_table_dump(t, out, 16, &cursor, 0);
		for (i = 0; i < n; i++) {
			memcpy(&k, out[i].rule.addr, sizeof(k));
			if (k.w[0] != 0x1234)
				continue;
			if (k.w[1] >= ST_BIG || test_and_set_bit(k.w[1], seen))
				goto fail;
		}
		for (i = 0; i < 8; i++, extra++) {
			k.w[0] = 0x5678;
			k.w[1] = extra;
			add.key = k;
			if (ffwall_table_add(t, &add, 1, &applied, &changed))
				goto fail;
		}
	} while (cursor != FFWALL_TABLE_DUMP_END);
	if (!bitmap_full(seen, ST_BIG))
		goto fail;
	for (i = 0; i < ST_BIG; i++) {
		k.w[0] = 0x1234;
		k.w[1] = i;
		ffwall_table_del(t, &k, 1, &applied, &changed);
		if (changed != 1)
			goto fail;
	}
	if (t->count != extra)
		goto fail;
	err = 0;
	goto out;
fail:
	pr_err("selftest big: failed (count %u, resizes %llu)\n", t->count, t->resizes);
out:
	bitmap_free(seen);
	kfree(out);
	if (t)
		ffwall_table_destroy(t);
	return err;
}

/*
 * One ADD of many records (the entries come from the call's spares, taken
 * from the slab 16 at a time): refreshes among them take none, a full table
 * evicts for each new one, and a table of pinned entries refuses the first
 * new one with -ENOSPC, applying the records before it.
 */
#define ST_MANY	40

static int ffwall_st_many(void)
{
	struct ffwall_add *add;
	struct ffwall_table *t;
	u32 i, applied, changed;
	int err = -EINVAL, ret;
	u64 removed = 0;

	t = ffwall_table_create(32, 0);
	add = kcalloc(ST_MANY, sizeof(*add), GFP_KERNEL);
	if (!t || !add) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < ST_MANY; i++) {
		add[i].key.w[0] = 0x4d41;
		add[i].key.w[1] = i;
	}
	/* 0..9 first, then all 40: ten refreshes, thirty new, eight evicted. */
	if (ffwall_table_add(t, add, 10, &applied, &changed) || changed != 10)
		goto fail;
	if (ffwall_table_add(t, add, ST_MANY, &applied, &changed) ||
	    applied != ST_MANY || changed != 30 || t->count != 32 ||
	    t->evicted != 8 || t->inserted != 40)
		goto fail;
	/* Pinned: the first 32 fill the table, the 33rd finds no room. */
	if (ffwall_table_flush(t, 0, &removed) || removed != 32)
		goto fail;
	for (i = 0; i < ST_MANY; i++) {
		add[i].key.w[0] = 0x5049;
		add[i].flags = FFWALL_F_PINNED;
	}
	ret = ffwall_table_add(t, add, ST_MANY, &applied, &changed);
	if (ret != -ENOSPC || applied != 32 || changed != 32 ||
	    t->count != 32 || t->pinned != 32)
		goto fail;
	err = 0;
	goto out;
fail:
	pr_err("selftest many: failed (count %u, evicted %llu)\n",
	       t->count, t->evicted);
out:
	kfree(add);
	if (t)
		ffwall_table_destroy(t);
	return err;
}

int ffwall_table_selftest(void)
{
	unsigned int i;
	int err;

	err = ffwall_st_parse();
	if (err)
		return err;
	for (i = 0; i < ARRAY_SIZE(ffwall_st_cases); i++) {
		err = ffwall_st_run_case(&ffwall_st_cases[i]);
		if (err)
			return err;
	}
	err = ffwall_st_big();
	if (err)
		return err;
	err = ffwall_st_many();
	if (err)
		return err;
	pr_info("table selftests passed (%zu cases)\n", ARRAY_SIZE(ffwall_st_cases) + 3);
	return 0;
}
