// SPDX-License-Identifier: GPL-2.0
/*
 * ffwall: the /dev/ffwall misc device.
 *
 * Every ioctl checks CAP_NET_ADMIN before it looks at its argument.  The
 * misc core takes a reference on this module for every open file, so rmmod
 * is refused while /dev/ffwall is open.  read() and poll() deliver event
 * records (events.c); private_data is the file's ring, NULL when the file
 * was not opened for reading.  Each command copies its argument
 * in, validates all of it, then acts; user memory is never touched while a
 * lock is held, except by DUMP's buffer, which is filled in kernel memory
 * first.
 */
#include <linux/build_bug.h>
#include <linux/capability.h>
#include <linux/compat.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/netdevice.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>

#include "ffwall.h"
#include "chardev.h"
#include "events.h"
#include "filter.h"
#include "hook.h"
#include "prefix.h"
#include "table.h"
#include "uapi/ffwall.h"

/* The ABI's layouts: fixed sizes, no implicit padding, same on 32 bits. */
static_assert(sizeof(struct ffwall_version) == 32);
static_assert(sizeof(struct ffwall_config) == 48);
static_assert(sizeof(struct ffwall_device) == 32);
static_assert(sizeof(struct ffwall_device_list) == 24);
static_assert(sizeof(struct ffwall_rule) == 48);
static_assert(sizeof(struct ffwall_batch) == 32);
static_assert(sizeof(struct ffwall_entry_info) == 72);
static_assert(sizeof(struct ffwall_lookup) == 112);
static_assert(sizeof(struct ffwall_flush) == 16);
static_assert(sizeof(struct ffwall_reserve) == 16);
static_assert(sizeof(struct ffwall_dump) == 48);
static_assert(sizeof(struct ffwall_stats) == 256);
static_assert(sizeof(struct ffwall_filter_load) == 72);
static_assert(sizeof(struct ffwall_filter_add) == 24);
static_assert(sizeof(struct ffwall_event) == 32);
static_assert(offsetof(struct ffwall_lookup, entry) == 40);
static_assert(offsetof(struct ffwall_rule, reserved) == 40);

#define FFWALL_FEATURES (FFWALL_FEAT_CONFIG | FFWALL_FEAT_ATTACH | FFWALL_FEAT_ADD_DEL | \
			 FFWALL_FEAT_LOOKUP | FFWALL_FEAT_FLUSH | FFWALL_FEAT_DUMP |	\
			 FFWALL_FEAT_STATS | FFWALL_FEAT_PORTS | FFWALL_FEAT_MONITOR |	\
			 FFWALL_FEAT_FLUSH_FLAGS | FFWALL_FEAT_FILTER | FFWALL_FEAT_EVENTS | \
			 FFWALL_FEAT_PREFIX | FFWALL_FEAT_ALLOW | FFWALL_FEAT_RESERVE | \
			 FFWALL_FEAT_STATS_MEM)

/* Most records LIST_DEVICES returns per call. */
#define FFWALL_LIST_MAX		4096

static struct ffwall_table *ffwall_cdev_table;
static int ffwall_cdev_prio;

static long ffwall_ioc_version(void __user *arg)
{
	struct ffwall_version v;

	memset(&v, 0, sizeof(v));
	v.abi_version = FFWALL_ABI_VERSION;
	v.features = FFWALL_FEATURES;
	strscpy(v.module_version, FFWALL_MODULE_VERSION, sizeof(v.module_version));
	if (copy_to_user(arg, &v, sizeof(v)))
		return -EFAULT;
	return 0;
}

static void ffwall_get_config(struct ffwall_config *c)
{
	struct ffwall_table *t = ffwall_cdev_table;

	memset(c, 0, sizeof(*c));
	c->max_entries = READ_ONCE(t->max_entries);
	c->mode = READ_ONCE(t->mode);
	c->gc_interval = READ_ONCE(t->gc_interval);
	c->hook_priority = ffwall_cdev_prio;
	c->filter_max_bytes = FFWALL_FILTER_MAX_BYTES;
	c->max_prefixes = t->ban->max;
	c->max_allow = t->allow->max;
}

static long ffwall_ioc_get_config(void __user *arg)
{
	struct ffwall_config c;

	ffwall_get_config(&c);
	if (copy_to_user(arg, &c, sizeof(c)))
		return -EFAULT;
	return 0;
}

static long ffwall_ioc_set_config(void __user *arg)
{
	const u32 known = FFWALL_CONFIG_MAX_ENTRIES | FFWALL_CONFIG_MODE |
			  FFWALL_CONFIG_GC_INTERVAL;
	struct ffwall_table *t = ffwall_cdev_table;
	struct ffwall_config c;
	int err;

	if (copy_from_user(&c, arg, sizeof(c)))
		return -EFAULT;
	if ((c.set_mask & ~known) || c.reserved[0] || c.reserved[1])
		return -EINVAL;
	if ((c.set_mask & FFWALL_CONFIG_MAX_ENTRIES) &&
	    (c.max_entries < FFWALL_MAX_ENTRIES_MIN || c.max_entries > FFWALL_MAX_ENTRIES_MAX))
		return -EINVAL;
	if ((c.set_mask & FFWALL_CONFIG_MODE) && c.mode > FFWALL_MODE_MONITOR)
		return -EINVAL;
	if ((c.set_mask & FFWALL_CONFIG_GC_INTERVAL) &&
	    (c.gc_interval < FFWALL_GC_INTERVAL_MIN || c.gc_interval > FFWALL_GC_INTERVAL_MAX))
		return -EINVAL;

	/* The only change that can fail goes first: all or nothing. */
	if (c.set_mask & FFWALL_CONFIG_MAX_ENTRIES) {
		err = ffwall_table_set_max(t, c.max_entries);
		if (err)
			return err;
	}
	if (c.set_mask & FFWALL_CONFIG_MODE)
		WRITE_ONCE(t->mode, c.mode);
	if (c.set_mask & FFWALL_CONFIG_GC_INTERVAL)
		ffwall_table_set_gc_interval(t, c.gc_interval);
	return 0;
}

static int ffwall_get_device(void __user *arg, struct ffwall_device *d)
{
	if (copy_from_user(d, arg, sizeof(*d)))
		return -EFAULT;
	if (d->ifindex || d->flags || d->reserved)
		return -EINVAL;
	if (!d->name[0] || strnlen(d->name, sizeof(d->name)) == sizeof(d->name))
		return -EINVAL;
	if (strcmp(d->name, "*") && !dev_valid_name(d->name))
		return -EINVAL;
	return 0;
}

static long ffwall_ioc_attach(void __user *arg, bool attach)
{
	struct ffwall_device d;
	int err;

	err = ffwall_get_device(arg, &d);
	if (err)
		return err;
	return attach ? ffwall_hook_attach(d.name) : ffwall_hook_detach(d.name);
}

static long ffwall_ioc_list_devices(void __user *arg)
{
	struct ffwall_device *buf = NULL;
	struct ffwall_device_list l;
	u32 cap, count;
	long err = 0;

	if (copy_from_user(&l, arg, sizeof(l)))
		return -EFAULT;
	if (l.reserved)
		return -EINVAL;
	cap = min_t(u32, l.capacity, FFWALL_LIST_MAX);
	if (cap) {
		buf = kvcalloc(cap, sizeof(*buf), GFP_KERNEL);
		if (!buf)
			return -ENOMEM;
	}
	ffwall_hook_list(buf, cap, &count);
	if (count && cap &&
	    copy_to_user(u64_to_user_ptr(l.devices), buf, min(count, cap) * sizeof(*buf)))
		err = -EFAULT;
	l.count = count;
	if (!err && copy_to_user(arg, &l, sizeof(l)))
		err = -EFAULT;
	kvfree(buf);
	return err;
}

/*
 * Records parsed at a time by the apply loop of ADD and DEL.  The batch is
 * copied in once; the parsed forms live in a chunk of this many, so that a
 * batch of FFWALL_BATCH_MAX costs one 3 MiB copy instead of three arrays
 * (every page of which the kernel zeroes under init_on_alloc).
 */
#define FFWALL_APPLY_CHUNK	256

/*
 * The copy of a bulk batch is kept for the next one: a load of 1M entries
 * in batches of 65,536 otherwise allocates, zeroes (init_on_alloc) and frees
 * 3 MiB sixteen times, which was a sixth of the ADD's instructions under
 * emulation.  Batches of at most FFWALL_BCACHE_MIN records (the daemon's
 * usual size) use a plain allocation.  The buffer is freed
 * FFWALL_BCACHE_IDLE after the last batch that used it.
 *
 * Locking: ffwall_bcache.lock is held by the one batch that uses the
 * buffer, from its copy to the end of its apply, and by the reaper while it
 * frees it.  A batch that finds it held (mutex_trylock) copies into its own
 * allocation instead, so concurrent batches never wait on each other here.
 * Order: ffwall_bcache.lock, then the allowlist's mutex, then the table's
 * lock; nothing that holds either of those takes ffwall_bcache.lock.
 */
#define FFWALL_BCACHE_MIN	1024
#define FFWALL_BCACHE_IDLE	(5 * HZ)

static struct {
	struct mutex lock;		/* the buffer's one user, or the reaper */
	struct ffwall_rule *recs;	/* NULL or @cap records */
	u32 cap;
	struct delayed_work reap;
} ffwall_bcache;

static void ffwall_bcache_reap(struct work_struct *work)
{
	mutex_lock(&ffwall_bcache.lock);
	kvfree(ffwall_bcache.recs);
	ffwall_bcache.recs = NULL;
	ffwall_bcache.cap = 0;
	mutex_unlock(&ffwall_bcache.lock);
}

/*
 * Room for @count records: the cached buffer when it is free (*@cached is
 * then true and ffwall_bcache.lock held), else a new allocation.
 */
static struct ffwall_rule *ffwall_batch_buf_get(u32 count, bool *cached)
{
	*cached = false;
	if (count > FFWALL_BCACHE_MIN && mutex_trylock(&ffwall_bcache.lock)) {
		if (ffwall_bcache.cap < count) {
			kvfree(ffwall_bcache.recs);
			ffwall_bcache.recs = kvmalloc_array(count, sizeof(struct ffwall_rule),
							    GFP_KERNEL);
			ffwall_bcache.cap = ffwall_bcache.recs ? count : 0;
		}
		if (ffwall_bcache.recs) {
			*cached = true;
			return ffwall_bcache.recs;
		}
		mutex_unlock(&ffwall_bcache.lock);
	}
	return kvmalloc_array(count, sizeof(struct ffwall_rule), GFP_KERNEL);
}

static void ffwall_batch_buf_put(struct ffwall_rule *recs, bool cached)
{
	if (!cached) {
		kvfree(recs);
		return;
	}
	mod_delayed_work(system_wq, &ffwall_bcache.reap, FFWALL_BCACHE_IDLE);
	mutex_unlock(&ffwall_bcache.lock);
}

union ffwall_parsed {
	struct ffwall_add ex;		/* ADD, exact table */
	struct ffwall_pfx_add px;	/* ADD, ban prefix; DEL: key and len */
	struct ffwall_key key;		/* DEL, exact table */
};

union ffwall_chunk {
	struct ffwall_add ex[FFWALL_APPLY_CHUNK];
	struct ffwall_pfx_add px[FFWALL_APPLY_CHUNK];
	struct ffwall_key keys[FFWALL_APPLY_CHUNK];
};

/* Parse record @r of an ADD (@del false) or DEL batch into @p. */
static int ffwall_batch_parse(const struct ffwall_rule *r, bool del,
			      union ffwall_parsed *p)
{
	if (r->prefix_len == 128)
		return del ? ffwall_table_parse_del(r, &p->key) :
			     ffwall_table_parse_rule(r, &p->ex);
	if (del)
		return ffwall_pfx_parse_del(r, 127, &p->px.key, &p->px.len);
	return ffwall_prefix_parse_rule(r, &p->px);
}

/*
 * Check record @r of an ADD (@del false) or DEL batch, as
 * ffwall_batch_parse() would; the exact table's ADD, a bulk load's record,
 * skips the parsed output.
 */
static int ffwall_batch_check(const struct ffwall_rule *r, bool del)
{
	union ffwall_parsed p;

	if (r->prefix_len == 128 && !del)
		return ffwall_table_check_rule(r);
	return ffwall_batch_parse(r, del, &p);
}

/*
 * Apply records [@i, @j) of one kind (all exact or all prefixes), which
 * passed validation, parsing them again @FFWALL_APPLY_CHUNK at a time into
 * @c.  Adds the records applied and changed to @b; stops at the first error.
 */
static int ffwall_batch_apply(const struct ffwall_rule *recs, u32 i, u32 j,
			      bool del, u32 now, union ffwall_chunk *c,
			      struct ffwall_batch *b)
{
	struct ffwall_table *t = ffwall_cdev_table;
	bool exact = recs[i].prefix_len == 128;
	union ffwall_parsed p;
	u32 k, n, ap, ch;
	int err = 0;

	for (; i < j && !err; i += n) {
		n = min_t(u32, j - i, FFWALL_APPLY_CHUNK);
		for (k = 0; k < n; k++) {
			/*
			 * recs is the kernel's copy, which the check pass
			 * accepted: it parses as it did.  The exact table's
			 * ADD, every record of a bulk load, is not checked
			 * again.
			 */
			if (exact && !del) {
				ffwall_table_fill_rule(&recs[i + k], &c->ex[k]);
				continue;
			}
			err = ffwall_batch_parse(&recs[i + k], del, &p);
			if (err)
				return err;
			if (exact && del)
				c->keys[k] = p.key;
			else if (!exact)
				c->px[k] = p.px;
		}
		ap = n;
		ch = 0;
		if (exact && del)
			err = ffwall_table_del(t, c->keys, n, &ap, &ch);
		else if (exact)
			err = ffwall_table_add(t, c->ex, n, &ap, &ch);
		else if (del)
			ffwall_pset_del(t->ban, c->px, n, now, &ch);
		else
			err = ffwall_pset_add(t->ban, c->px, n, now, &ap, &ch);
		b->applied += ap;
		b->changed += ch;
	}
	return err;
}

/*
 * ADD and DEL: copy the whole batch, validate all of it, then apply.
 * prefix_len 128 goes to the exact table, below 128 to the ban prefixes.
 * ADD holds the allowlist's mutex from the EEXIST check to the end, so the
 * allowlist cannot change in between (order: allowlist, then t->lock).
 * Consecutive records of one kind are applied as one run; before the runs,
 * ADD makes room in the exact table's hash for its new entries at once.
 */
static long ffwall_ioc_batch(void __user *arg, bool del)
{
	struct ffwall_table *t = ffwall_cdev_table;
	struct ffwall_rule *recs = NULL;
	union ffwall_chunk *chunk = NULL;
	u32 i, j, nexact = 0, now;
	struct ffwall_batch b;
	u64 buckets;
	bool locked = false, cached = false;
	long err = 0;

	if (copy_from_user(&b, arg, sizeof(b)))
		return -EFAULT;
	b.applied = 0;
	b.changed = 0;
	b.bad_index = U32_MAX;
	if (b.flags || b.record_size != sizeof(struct ffwall_rule) ||
	    b.count > FFWALL_BATCH_MAX) {
		err = -EINVAL;
		goto out;
	}
	if (!b.count)
		goto out;

	recs = ffwall_batch_buf_get(b.count, &cached);
	chunk = kmalloc(sizeof(*chunk), GFP_KERNEL);
	if (!recs || !chunk) {
		err = -ENOMEM;
		goto out;
	}
	if (copy_from_user(recs, u64_to_user_ptr(b.records), b.count * sizeof(*recs))) {
		err = -EFAULT;
		goto out;
	}
	for (i = 0; i < b.count; i++) {
		err = ffwall_batch_check(&recs[i], del);
		if (err) {
			b.bad_index = i;
			goto out;
		}
		if (recs[i].prefix_len == 128)
			nexact++;
	}

	if (!del) {
		/* No ban may lie wholly inside the allowlist. */
		ffwall_pset_lock(t->allow);
		locked = true;
		for (i = 0; i < b.count && !ffwall_pset_empty(t->allow); i++) {
			struct ffwall_key key;

			/* Validated: the address is the key, host bits zero. */
			memcpy(&key, recs[i].addr, sizeof(key));
			if (ffwall_allow_covers(t->allow, &key, recs[i].prefix_len)) {
				b.bad_index = i;
				err = -EEXIST;
				goto out;
			}
		}
		/* Room for the batch's new entries; failing that, ADD grows as it goes. */
		ffwall_table_reserve(t, nexact, 2, &buckets);
	}

	now = ffwall_table_now(t);
	for (i = 0; i < b.count && !err; i = j) {
		bool exact = recs[i].prefix_len == 128;

		for (j = i + 1; j < b.count && (recs[j].prefix_len == 128) == exact; j++)
			;
		err = ffwall_batch_apply(recs, i, j, del, now, chunk, &b);
	}
out:
	if (locked)
		ffwall_pset_unlock(t->allow);
	kfree(chunk);
	if (recs)
		ffwall_batch_buf_put(recs, cached);
	if (copy_to_user(arg, &b, sizeof(b)))
		return -EFAULT;
	return err;
}

/* RESERVE: grow the exact table's hash for a bulk load at once. */
static long ffwall_ioc_reserve(void __user *arg)
{
	struct ffwall_reserve r;
	long err;

	if (copy_from_user(&r, arg, sizeof(r)))
		return -EFAULT;
	if (r.reserved0)
		return -EINVAL;
	err = ffwall_table_reserve(ffwall_cdev_table, r.entries, 1, &r.buckets);
	if (copy_to_user(arg, &r, sizeof(r)))
		return -EFAULT;
	return err;
}

/* ALLOW_ADD and ALLOW_DEL: exact addresses and prefixes, nothing else. */
static long ffwall_ioc_allow_batch(void __user *arg, bool del)
{
	struct ffwall_table *t = ffwall_cdev_table;
	struct ffwall_pfx_add *px = NULL;
	struct ffwall_rule *recs = NULL;
	struct ffwall_batch b;
	long err = 0;
	u32 i;

	if (copy_from_user(&b, arg, sizeof(b)))
		return -EFAULT;
	b.applied = 0;
	b.changed = 0;
	b.bad_index = U32_MAX;
	if (b.flags || b.record_size != sizeof(struct ffwall_rule) ||
	    b.count > FFWALL_BATCH_MAX) {
		err = -EINVAL;
		goto out;
	}
	if (!b.count)
		goto out;

	recs = kvmalloc_array(b.count, sizeof(*recs), GFP_KERNEL);
	px = kvmalloc_array(b.count, sizeof(*px), GFP_KERNEL);
	if (!recs || !px) {
		err = -ENOMEM;
		goto out;
	}
	if (copy_from_user(recs, u64_to_user_ptr(b.records), b.count * sizeof(*recs))) {
		err = -EFAULT;
		goto out;
	}
	for (i = 0; i < b.count; i++) {
		if (del)
			err = ffwall_pfx_parse_del(&recs[i], 128, &px[i].key, &px[i].len);
		else
			err = ffwall_allow_parse_rule(&recs[i], &px[i]);
		if (err) {
			b.bad_index = i;
			goto out;
		}
	}
	if (del) {
		ffwall_pset_del(t->allow, px, b.count, 0, &b.changed);
		b.applied = b.count;
	} else {
		err = ffwall_pset_add(t->allow, px, b.count, 0, &b.applied, &b.changed);
	}
out:
	kvfree(px);
	kvfree(recs);
	if (copy_to_user(arg, &b, sizeof(b)))
		return -EFAULT;
	return err;
}

/*
 * LOOKUP: the allowlist first (ALLOW whenever it covers the address, ban or
 * not), then the exact entry, then the longest prefix.  As on the packet
 * path, the most specific ban decides with its ports.
 */
static long ffwall_ioc_lookup(void __user *arg)
{
	struct ffwall_table *t = ffwall_cdev_table;
	struct ffwall_entry_info *info;
	struct ffwall_lookup l;
	struct ffwall_key key;
	struct ffwall_pfx *a;
	unsigned int i;
	bool hit;
	u32 now;

	if (copy_from_user(&l, arg, sizeof(l)))
		return -EFAULT;
	if (l.reserved0 || (l.flags & ~FFWALL_LOOKUP_F_PORT) ||
	    (!(l.flags & FFWALL_LOOKUP_F_PORT) && l.port))
		return -EINVAL;

	memcpy(&key, l.addr, sizeof(key));
	info = &l.entry;
	now = ffwall_table_now(t);
	l.now = now;
	l.verdict = FFWALL_VERDICT_PASS;
	rcu_read_lock();
	a = ffwall_pset_lookup_rcu(t->allow, &key, 0);
	if (a)
		ffwall_pfx_fill_info(t->allow, a, now, info);
	rcu_read_unlock();
	if (a) {
		l.match = FFWALL_MATCH_ALLOW;
		goto out;
	}

	hit = ffwall_table_info(t, &key, info, &now);
	l.now = now;
	l.match = hit ? FFWALL_MATCH_EXACT : FFWALL_MATCH_NONE;
	if (!hit && ffwall_pset_lookup_info(t->ban, &key, now, info)) {
		hit = true;
		l.match = FFWALL_MATCH_PREFIX;
	}
	if (hit) {
		if (!info->rule.nports) {
			l.verdict = FFWALL_VERDICT_DROP;
		} else if (!(l.flags & FFWALL_LOOKUP_F_PORT)) {
			l.verdict = FFWALL_VERDICT_PORTS;
		} else {
			for (i = 0; i < info->rule.nports; i++)
				if (info->rule.ports[i] == l.port)
					l.verdict = FFWALL_VERDICT_DROP;
		}
		if (l.verdict != FFWALL_VERDICT_PASS &&
		    ((info->rule.flags & FFWALL_F_MONITOR) ||
		     READ_ONCE(t->mode) == FFWALL_MODE_MONITOR))
			l.verdict = FFWALL_VERDICT_MONITOR;
	}
out:
	if (copy_to_user(arg, &l, sizeof(l)))
		return -EFAULT;
	return 0;
}

static long ffwall_ioc_flush(void __user *arg)
{
	struct ffwall_table *t = ffwall_cdev_table;
	struct ffwall_flush f;
	u64 removed = 0;
	long err = 0;

	if (copy_from_user(&f, arg, sizeof(f)))
		return -EFAULT;
	if (!f.scope || (f.scope & ~FFWALL_FLUSH_ALL) || f.reserved0 ||
	    (f.with_flags & ~(FFWALL_F_PINNED | FFWALL_F_MONITOR)))
		return -EINVAL;
	/* Allowlist entries carry no flags: a FLUSH by flags leaves them. */
	if (f.scope & FFWALL_FLUSH_EXACT)
		err = ffwall_table_flush(t, f.with_flags, &removed);
	if (err)
		return err;
	f.removed = removed;
	if (f.scope & FFWALL_FLUSH_PREFIX)
		f.removed += ffwall_pset_flush(t->ban, f.with_flags);
	if ((f.scope & FFWALL_FLUSH_ALLOW) && !f.with_flags)
		f.removed += ffwall_pset_flush(t->allow, 0);
	if (copy_to_user(arg, &f, sizeof(f)))
		return -EFAULT;
	return 0;
}

/*
 * The phases of FFWALL_IOC_DUMP, in the two top bits of the cursor: bit 63
 * clear, the exact table (its cursor is below 2^63); 10, the ban prefixes;
 * 11, the allowlist (a prefix set's cursor is at most 2^61).  Each phase
 * keeps its own guarantee (every entry present for the whole walk exactly
 * once), and an entry never moves between phases, so the whole dump keeps
 * it.  A call moves on to the next phase only with room for a full group.
 */
#define FFWALL_PH_PREFIX	(2ULL << 62)
#define FFWALL_PH_ALLOW		(3ULL << 62)
#define FFWALL_PH_MASK		(3ULL << 62)

static u32 ffwall_dump_all(struct ffwall_entry_info *buf, u32 max, u64 *cursor,
			   u64 hit_since)
{
	struct ffwall_table *t = ffwall_cdev_table;
	u64 c = *cursor, pc;
	u32 n = 0, now;

	if (!(c & BIT_ULL(63))) {
		n += ffwall_table_dump(t, buf, max, &c, hit_since);
		if (c != FFWALL_TABLE_DUMP_END || max - n < FFWALL_DUMP_MIN) {
			*cursor = c == FFWALL_TABLE_DUMP_END ? FFWALL_PH_PREFIX : c;
			return n;
		}
		c = FFWALL_PH_PREFIX;
	}
	now = ffwall_table_now(t);
	if ((c & FFWALL_PH_MASK) == FFWALL_PH_PREFIX) {
		pc = c & ~FFWALL_PH_MASK;
		n += ffwall_pset_dump(t->ban, buf + n, max - n, &pc, hit_since, now);
		if (pc != FFWALL_PSET_DUMP_END || max - n < FFWALL_DUMP_MIN) {
			*cursor = pc == FFWALL_PSET_DUMP_END ? FFWALL_PH_ALLOW :
				  FFWALL_PH_PREFIX | pc;
			return n;
		}
		c = FFWALL_PH_ALLOW;
	}
	pc = c & ~FFWALL_PH_MASK;
	n += ffwall_pset_dump(t->allow, buf + n, max - n, &pc, hit_since, now);
	*cursor = pc == FFWALL_PSET_DUMP_END ? FFWALL_DUMP_END : FFWALL_PH_ALLOW | pc;
	return n;
}

/* DUMP (all three phases) and ALLOW_DUMP (the allowlist's cursor alone). */
static long ffwall_ioc_dump(void __user *arg, bool allow)
{
	struct ffwall_table *t = ffwall_cdev_table;
	struct ffwall_entry_info *buf;
	struct ffwall_dump d;
	u64 cursor;
	long err = 0;
	u32 max, n;

	if (copy_from_user(&d, arg, sizeof(d)))
		return -EFAULT;
	if (d.capacity < FFWALL_DUMP_MIN || d.record_size != sizeof(*buf) ||
	    d.flags || d.reserved)
		return -EINVAL;
	cursor = d.cursor;
	/* A cursor no call returned: refuse it rather than guess. */
	if (cursor != FFWALL_DUMP_END &&
	    (allow ? cursor > FFWALL_PSET_DUMP_END :
	     ((cursor & BIT_ULL(63)) &&
	      (cursor & ~FFWALL_PH_MASK) > FFWALL_PSET_DUMP_END)))
		return -EINVAL;
	max = min_t(u32, d.capacity, FFWALL_DUMP_MAX);
	buf = kvmalloc_array(max, sizeof(*buf), GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	if (cursor == FFWALL_DUMP_END) {
		n = 0;
	} else if (allow) {
		n = ffwall_pset_dump(t->allow, buf, max, &cursor, d.hit_since,
				     ffwall_table_now(t));
		if (cursor == FFWALL_PSET_DUMP_END)
			cursor = FFWALL_DUMP_END;
	} else {
		n = ffwall_dump_all(buf, max, &cursor, d.hit_since);
	}
	/* On EFAULT the cursor is not written back: the caller can retry. */
	if (n && copy_to_user(u64_to_user_ptr(d.records), buf, n * sizeof(*buf))) {
		err = -EFAULT;
		goto out;
	}
	d.count = n;
	d.cursor = cursor;
	if (copy_to_user(arg, &d, sizeof(d)))
		err = -EFAULT;
out:
	kvfree(buf);
	return err;
}

static long ffwall_ioc_stats(void __user *arg)
{
	struct ffwall_table *t = ffwall_cdev_table;
	struct ffwall_table_stats ts;
	struct ffwall_hook_stats hs;
	struct ffwall_filter_stats fs;
	struct ffwall_pset_stats bs, as;
	struct ffwall_stats s;

	ffwall_table_get_stats(t, &ts);
	ffwall_pset_get_stats(t->ban, &bs);
	ffwall_pset_get_stats(t->allow, &as);
	ffwall_hook_get_stats(&hs);
	ffwall_filter_get_stats(&fs);
	memset(&s, 0, sizeof(s));
	s.now = ffwall_table_now(t);
	s.packets_seen = hs.seen;
	s.packets_not_ip = hs.not_ip;
	s.dropped_exact = hs.dropped_exact;
	s.dropped_ports = hs.dropped_ports;
	s.monitor_hits = hs.monitor_hits;
	s.dropped_prefix = hs.dropped_prefix;
	s.passed_allow = hs.passed_allow;
	s.prefixes = bs.entries;
	s.allow_entries = as.entries;
	s.hook_errors = hs.hook_errors;
	s.entries = ts.entries;
	s.pinned = ts.pinned;
	s.buckets = ts.buckets;
	s.portsets = ts.portsets;
	s.inserted = ts.inserted;
	s.deleted = ts.deleted;
	s.evicted = ts.evicted;
	s.expired = ts.expired;
	s.resizes = ts.resizes;
	s.bytes = ts.bytes;
	s.entry_size = ts.entry_size;
	s.filter_probes = fs.probes;
	s.filter_hits = fs.hits;
	s.prefix_bytes = bs.bytes;
	s.allow_bytes = as.bytes;
	s.filter_bytes = fs.bytes;
	s.events_lost = ffwall_events_lost();
	if (copy_to_user(arg, &s, sizeof(s)))
		return -EFAULT;
	return 0;
}

static long ffwall_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	if (!capable(CAP_NET_ADMIN))
		return -EPERM;

	switch (cmd) {
	case FFWALL_IOC_VERSION:
		return ffwall_ioc_version(uarg);
	case FFWALL_IOC_GET_CONFIG:
		return ffwall_ioc_get_config(uarg);
	case FFWALL_IOC_SET_CONFIG:
		return ffwall_ioc_set_config(uarg);
	case FFWALL_IOC_ATTACH:
		return ffwall_ioc_attach(uarg, true);
	case FFWALL_IOC_DETACH:
		return ffwall_ioc_attach(uarg, false);
	case FFWALL_IOC_LIST_DEVICES:
		return ffwall_ioc_list_devices(uarg);
	case FFWALL_IOC_ADD:
		return ffwall_ioc_batch(uarg, false);
	case FFWALL_IOC_DEL:
		return ffwall_ioc_batch(uarg, true);
	case FFWALL_IOC_LOOKUP:
		return ffwall_ioc_lookup(uarg);
	case FFWALL_IOC_FLUSH:
		return ffwall_ioc_flush(uarg);
	case FFWALL_IOC_DUMP:
		return ffwall_ioc_dump(uarg, false);
	case FFWALL_IOC_ALLOW_ADD:
		return ffwall_ioc_allow_batch(uarg, false);
	case FFWALL_IOC_ALLOW_DEL:
		return ffwall_ioc_allow_batch(uarg, true);
	case FFWALL_IOC_ALLOW_DUMP:
		return ffwall_ioc_dump(uarg, true);
	case FFWALL_IOC_STATS:
		return ffwall_ioc_stats(uarg);
	case FFWALL_IOC_FILTER_LOAD:
		return ffwall_filter_ioc_load(uarg);
	case FFWALL_IOC_FILTER_ADD:
		return ffwall_filter_ioc_add(uarg);
	case FFWALL_IOC_RESERVE:
		return ffwall_ioc_reserve(uarg);
	default:
		return -ENOTTY;
	}
}

/*
 * A file opened for reading gets its own event ring (events.c); one opened
 * write-only is for ioctls only and gets none.
 */
static int ffwall_open(struct inode *inode, struct file *file)
{
	struct ffwall_ev_reader *r = NULL;
	int err;

	err = stream_open(inode, file);
	if (err)
		return err;
	if (file->f_mode & FMODE_READ) {
		r = ffwall_events_open();
		if (IS_ERR(r))
			return PTR_ERR(r);
	}
	file->private_data = r;
	return 0;
}

static int ffwall_release(struct inode *inode, struct file *file)
{
	if (file->private_data)
		ffwall_events_release(file->private_data);
	return 0;
}

static ssize_t ffwall_read(struct file *file, char __user *buf, size_t len,
			   loff_t *ppos)
{
	/* Events name banned hosts: as private as the ioctls.  The opener's
	 * credentials decide, so a descriptor passed to a privileged helper
	 * cannot be used to read them.
	 */
	if (!file_ns_capable(file, &init_user_ns, CAP_NET_ADMIN))
		return -EPERM;
	return ffwall_events_read(file->private_data, buf, len,
				  file->f_flags & O_NONBLOCK);
}

static __poll_t ffwall_poll(struct file *file, poll_table *wait)
{
	if (!file->private_data)
		return EPOLLERR;
	return ffwall_events_poll(file->private_data, file, wait);
}

static const struct file_operations ffwall_fops = {
	.owner		= THIS_MODULE,
	.open		= ffwall_open,
	.release	= ffwall_release,
	.read		= ffwall_read,
	.poll		= ffwall_poll,
	.unlocked_ioctl	= ffwall_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

static struct miscdevice ffwall_miscdev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= FFWALL_DEVICE_NAME,
	.fops	= &ffwall_fops,
	.mode	= 0600,
};

int ffwall_chardev_init(struct ffwall_table *t, int hook_priority)
{
	ffwall_cdev_table = t;
	ffwall_cdev_prio = hook_priority;
	mutex_init(&ffwall_bcache.lock);
	INIT_DELAYED_WORK(&ffwall_bcache.reap, ffwall_bcache_reap);
	return misc_register(&ffwall_miscdev);
}

void ffwall_chardev_exit(void)
{
	misc_deregister(&ffwall_miscdev);
	/* No ioctl runs any more: free the cache as its reaper would. */
	cancel_delayed_work_sync(&ffwall_bcache.reap);
	ffwall_bcache_reap(&ffwall_bcache.reap.work);
}
