// SPDX-License-Identifier: GPL-2.0
/*
 * ffwall: selftests of the event rings and of the per-CPU staging, run at
 * load under DEBUG (Debian's kernels have no KUnit).  Included by events.c,
 * so that they reach its static functions.  A failure fails the load.
 *
 * Two tables: ring cases drive one ring directly (push, stage losses, reads)
 * and compare everything read with the expected records; system cases
 * raise events through ffwall_event_raise() into readers on the list and
 * read what the irq_work delivered.
 */
#include <linux/cpu.h>
#include <linux/cpumask.h>
#include <linux/module.h>
#include <linux/smp.h>

/* ------------------------------------------------------------------------ */
/* Reading a ring from the kernel. */

#define FFWALL_EVST_MAX		256

/* Take up to @max records into @out, as read() would; returns the count. */
static u32 ffwall_evst_take(struct ffwall_ev_reader *r, struct ffwall_event *out, u32 max)
{
	u32 head, n, first;

	mutex_lock(&r->read_mutex);
	n = min(ffwall_ev_peek(r, &head), max);
	first = min(n, r->size - head);
	memcpy(out, &r->ev[head], first * sizeof(*out));
	memcpy(out + first, &r->ev[0], (n - first) * sizeof(*out));
	ffwall_ev_consume(r, n);
	mutex_unlock(&r->read_mutex);
	return n;
}

/* Take everything, as repeated reads would, into @out (@max records). */
static u32 ffwall_evst_take_all(struct ffwall_ev_reader *r, struct ffwall_event *out, u32 max)
{
	u32 n = 0, got;

	while (n < max) {
		got = ffwall_evst_take(r, out + n, max - n);
		if (!got)
			break;
		n += got;
	}
	return n;
}

static void ffwall_evst_addr(u8 *addr, u32 v)
{
	u32 i;

	for (i = 0; i < 16; i++)
		addr[i] = (u8)(v * 16 + i);
}

/* A record raised by the tests: every field follows from @v. */
static bool ffwall_evst_check(const struct ffwall_event *ev, u16 type, u32 v)
{
	u8 addr[16];

	ffwall_evst_addr(addr, v);
	return ev->type == type && ev->value == v && ev->prefix_len == 128 - (v & 63) &&
	       ev->flags == (v & 3) && !memcmp(ev->addr, addr, 16);
}

static bool ffwall_evst_is_overflow(const struct ffwall_event *ev, u32 n)
{
	static const u8 zero[16];

	return ev->type == FFWALL_EVENT_OVERFLOW && ev->value == n &&
	       ev->prefix_len == 128 && !ev->flags && ev->time &&
	       !memcmp(ev->addr, zero, 16);
}

/* ------------------------------------------------------------------------ */
/* Ring cases. */

enum {
	EVST_END,
	EVST_PUSH,	/* push n records, values continuing from the last */
	EVST_LOSE,	/* charge n stage losses, as the fan-out does */
	EVST_READ,	/* read up to n records (0: until the ring is empty) */
};

struct ffwall_evst_step {
	u8 op;
	u32 n;
};

struct ffwall_evst_want {
	u16 type;
	u32 value;
};

#define REC(v)	{ FFWALL_EVENT_EVICTED, (v) }
#define OVF(n)	{ FFWALL_EVENT_OVERFLOW, (n) }

struct ffwall_evst_ring_case {
	const char *name;
	u32 size;
	struct ffwall_evst_step steps[8];
	/* Everything read, in order, by the steps and a final read-all. */
	struct ffwall_evst_want want[16];
	u32 nwant;
	u64 lost;		/* expected growth of ffwall_events_lost() */
};

static const struct ffwall_evst_ring_case ffwall_evst_ring_cases[] = {
	{
		.name = "fill and drain",
		.size = 4,
		.steps = { { EVST_PUSH, 4 }, { EVST_READ, 0 } },
		.want = { REC(0), REC(1), REC(2), REC(3) },
		.nwant = 4,
	},
	{
		.name = "wrap",
		.size = 4,
		.steps = { { EVST_PUSH, 3 }, { EVST_READ, 2 }, { EVST_PUSH, 3 } },
		.want = { REC(0), REC(1), REC(2), REC(3), REC(4), REC(5) },
		.nwant = 6,
	},
	{
		.name = "wrap twice, full each time",
		.size = 4,
		.steps = { { EVST_PUSH, 4 }, { EVST_READ, 3 }, { EVST_PUSH, 3 },
			   { EVST_READ, 3 }, { EVST_PUSH, 3 } },
		.want = { REC(0), REC(1), REC(2), REC(3), REC(4), REC(5), REC(6),
			  REC(7), REC(8), REC(9) },
		.nwant = 10,
	},
	{
		.name = "full ring: losses counted, OVERFLOW after the records",
		.size = 4,
		.steps = { { EVST_PUSH, 7 } },
		.want = { REC(0), REC(1), REC(2), REC(3), OVF(3) },
		.nwant = 5,
		.lost = 3,
	},
	{
		.name = "OVERFLOW goes in before the next record that fits",
		.size = 4,
		.steps = { { EVST_PUSH, 6 }, { EVST_READ, 2 }, { EVST_PUSH, 1 } },
		.want = { REC(0), REC(1), REC(2), REC(3), OVF(2), REC(6) },
		.nwant = 6,
		.lost = 2,
	},
	{
		.name = "one free slot: no room for OVERFLOW and record",
		.size = 4,
		.steps = { { EVST_PUSH, 5 }, { EVST_READ, 1 }, { EVST_PUSH, 1 } },
		.want = { REC(0), REC(1), REC(2), REC(3), OVF(2) },
		.nwant = 5,
		.lost = 2,
	},
	{
		.name = "stage losses between records",
		.size = 8,
		.steps = { { EVST_PUSH, 2 }, { EVST_LOSE, 5 }, { EVST_PUSH, 1 } },
		.want = { REC(0), REC(1), OVF(5), REC(2) },
		.nwant = 4,
		.lost = 5,
	},
	{
		.name = "stage losses on a full ring add up",
		.size = 4,
		.steps = { { EVST_PUSH, 4 }, { EVST_LOSE, 2 }, { EVST_PUSH, 1 } },
		.want = { REC(0), REC(1), REC(2), REC(3), OVF(3) },
		.nwant = 5,
		.lost = 3,
	},
	{
		.name = "more than U32_MAX lost: split over OVERFLOW records",
		.size = 4,
		.steps = { { EVST_LOSE, U32_MAX }, { EVST_LOSE, 2 }, { EVST_PUSH, 1 } },
		.want = { OVF(U32_MAX), OVF(2), REC(0) },
		.nwant = 3,
		.lost = (u64)U32_MAX + 2,
	},
};

static int ffwall_evst_ring_case(const struct ffwall_evst_ring_case *c,
				 struct ffwall_event *buf)
{
	struct ffwall_ev_reader *r = ffwall_ev_alloc(c->size);
	u64 lost0 = ffwall_events_lost();
	struct ffwall_event ev;
	u32 i, j, got = 0, seq = 0;
	int err = 0;

	if (!r)
		return -ENOMEM;

	for (i = 0; i < ARRAY_SIZE(c->steps) && c->steps[i].op != EVST_END; i++) {
		const struct ffwall_evst_step *st = &c->steps[i];

		switch (st->op) {
		case EVST_PUSH:
			for (j = 0; j < st->n; j++, seq++) {
				memset(&ev, 0, sizeof(ev));
				ev.type = FFWALL_EVENT_EVICTED;
				ev.prefix_len = 128 - (seq & 63);
				ev.flags = seq & 3;
				ev.value = seq;
				ev.time = 1;
				ffwall_evst_addr(ev.addr, seq);
				spin_lock_irq(&r->lock);
				ffwall_ev_push(r, &ev);
				spin_unlock_irq(&r->lock);
			}
			break;
		case EVST_LOSE:
			spin_lock_irq(&r->lock);
			ffwall_ev_lose(r, st->n);
			spin_unlock_irq(&r->lock);
			break;
		case EVST_READ:
			if (st->n)
				got += ffwall_evst_take(r, buf + got,
							min(st->n, FFWALL_EVST_MAX - got));
			else
				got += ffwall_evst_take_all(r, buf + got, FFWALL_EVST_MAX - got);
			break;
		}
	}
	got += ffwall_evst_take_all(r, buf + got, FFWALL_EVST_MAX - got);

	if (got != c->nwant) {
		pr_err("selftest events/ring \"%s\": read %u records, want %u\n",
		       c->name, got, c->nwant);
		err = -EINVAL;
	}
	for (i = 0; !err && i < got; i++) {
		const struct ffwall_evst_want *w = &c->want[i];
		bool good = w->type == FFWALL_EVENT_OVERFLOW ?
			ffwall_evst_is_overflow(&buf[i], w->value) :
			ffwall_evst_check(&buf[i], w->type, w->value);

		if (!good) {
			pr_err("selftest events/ring \"%s\": record %u is type %u value %u, want type %u value %u\n",
			       c->name, i, buf[i].type, buf[i].value, w->type, w->value);
			err = -EINVAL;
		}
	}
	if (!err && (r->count || r->lost)) {
		pr_err("selftest events/ring \"%s\": ring not empty after reading\n", c->name);
		err = -EINVAL;
	}
	if (!err && ffwall_events_lost() - lost0 != c->lost) {
		pr_err("selftest events/ring \"%s\": events_lost grew by %llu, want %llu\n",
		       c->name, ffwall_events_lost() - lost0, c->lost);
		err = -EINVAL;
	}
	ffwall_ev_free(r);
	return err;
}

/* ------------------------------------------------------------------------ */
/* System cases: through ffwall_event_raise(), the stages and the irq_work. */

static void ffwall_evst_raise(u16 type, u32 v)
{
	u8 addr[16];

	ffwall_evst_addr(addr, v);
	ffwall_event_raise(type, addr, 128 - (v & 63), v & 3, v);
}

/* Read all of @r and check it is records 0..@n-1 of @type, then OVERFLOW(@lost). */
static int ffwall_evst_expect(const char *name, struct ffwall_ev_reader *r,
			      struct ffwall_event *buf, u16 type, u32 n, u32 lost)
{
	u32 got = ffwall_evst_take_all(r, buf, FFWALL_EVST_MAX), i;
	u32 want = n + (lost ? 1 : 0);

	if (got != want) {
		pr_err("selftest events/%s: reader of %u got %u records, want %u\n",
		       name, r->size, got, want);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (!ffwall_evst_check(&buf[i], type, i) || !buf[i].time) {
			pr_err("selftest events/%s: reader of %u: record %u is type %u value %u\n",
			       name, r->size, i, buf[i].type, buf[i].value);
			return -EINVAL;
		}
	}
	if (lost && !ffwall_evst_is_overflow(&buf[n], lost)) {
		pr_err("selftest events/%s: reader of %u: last record is type %u value %u, want OVERFLOW %u\n",
		       name, r->size, buf[n].type, buf[n].value, lost);
		return -EINVAL;
	}
	return 0;
}

/* Every reader gets every event, in order, with every field. */
static int ffwall_evst_many_readers(struct ffwall_event *buf)
{
	static const u32 sizes[] = { 16, 64, 256 };
	struct ffwall_ev_reader *r[ARRAY_SIZE(sizes)];
	int err = 0;
	u32 i, n;

	for (n = 0; n < ARRAY_SIZE(sizes); n++) {
		r[n] = ffwall_ev_open_sized(sizes[n]);
		if (IS_ERR(r[n])) {
			err = PTR_ERR(r[n]);
			goto out;
		}
	}
	/* One CPU: its stage keeps the order. */
	preempt_disable();
	for (i = 0; i < 12; i++)
		ffwall_evst_raise(i % 3 + 1, i);
	preempt_enable();
	ffwall_ev_sync();
	for (i = 0; i < n && !err; i++) {
		u32 j, got = ffwall_evst_take_all(r[i], buf, FFWALL_EVST_MAX);

		if (got != 12) {
			pr_err("selftest events/many readers: reader %u got %u records, want 12\n",
			       i, got);
			err = -EINVAL;
		}
		for (j = 0; j < got && !err; j++) {
			if (!ffwall_evst_check(&buf[j], j % 3 + 1, j)) {
				pr_err("selftest events/many readers: reader %u record %u wrong\n",
				       i, j);
				err = -EINVAL;
			}
		}
	}
out:
	while (n--)
		ffwall_events_release(r[n]);
	return err;
}

/* A full stage counts its losses; the reader sees them after the stage. */
static int ffwall_evst_stage_full(struct ffwall_event *buf)
{
	struct ffwall_ev_reader *r = ffwall_ev_open_sized(FFWALL_EVST_MAX);
	u64 lost0 = ffwall_events_lost();
	unsigned long flags;
	int err;
	u32 i;

	if (IS_ERR(r))
		return PTR_ERR(r);
	/* Interrupts off: this CPU's irq_work cannot drain the stage meanwhile. */
	local_irq_save(flags);
	for (i = 0; i < FFWALL_EV_STAGE + 7; i++)
		ffwall_evst_raise(FFWALL_EVENT_EXPIRED, i);
	local_irq_restore(flags);
	ffwall_ev_sync();
	err = ffwall_evst_expect("stage full", r, buf, FFWALL_EVENT_EXPIRED,
				 FFWALL_EV_STAGE, 7);
	if (!err && ffwall_events_lost() - lost0 != 7) {
		pr_err("selftest events/stage full: events_lost grew by %llu, want 7\n",
		       ffwall_events_lost() - lost0);
		err = -EINVAL;
	}
	ffwall_events_release(r);
	return err;
}

/* A slow reader loses what does not fit; a fast one beside it loses nothing. */
static int ffwall_evst_slow_reader(struct ffwall_event *buf)
{
	struct ffwall_ev_reader *slow, *fast;
	u64 lost0 = ffwall_events_lost();
	int err;
	u32 i;

	slow = ffwall_ev_open_sized(16);
	if (IS_ERR(slow))
		return PTR_ERR(slow);
	fast = ffwall_ev_open_sized(FFWALL_EVST_MAX);
	if (IS_ERR(fast)) {
		ffwall_events_release(slow);
		return PTR_ERR(fast);
	}
	preempt_disable();
	for (i = 0; i < 40; i++)
		ffwall_evst_raise(FFWALL_EVENT_EVICTED, i);
	preempt_enable();
	ffwall_ev_sync();
	err = ffwall_evst_expect("slow reader", slow, buf, FFWALL_EVENT_EVICTED, 16, 24);
	if (!err)
		err = ffwall_evst_expect("slow reader", fast, buf, FFWALL_EVENT_EVICTED, 40, 0);
	if (!err && ffwall_events_lost() - lost0 != 24) {
		pr_err("selftest events/slow reader: events_lost grew by %llu, want 24\n",
		       ffwall_events_lost() - lost0);
		err = -EINVAL;
	}
	ffwall_events_release(fast);
	ffwall_events_release(slow);
	return err;
}

static void ffwall_evst_raise_here(void *unused)
{
	/* Hardirq context (IPI), or the caller's CPU with interrupts off. */
	ffwall_event_raise(FFWALL_EVENT_MISS, NULL, 128, 0, smp_processor_id());
}

/* Every CPU stages its own event; the irq_works bring them all in. */
static int ffwall_evst_every_cpu(struct ffwall_event *buf)
{
	struct ffwall_ev_reader *r = ffwall_ev_open_sized(FFWALL_EVST_MAX);
	cpumask_var_t seen;
	u32 i, got, want;
	int err = 0;

	if (IS_ERR(r))
		return PTR_ERR(r);
	if (!zalloc_cpumask_var(&seen, GFP_KERNEL)) {
		ffwall_events_release(r);
		return -ENOMEM;
	}
	cpus_read_lock();
	want = num_online_cpus();
	on_each_cpu(ffwall_evst_raise_here, NULL, 1);
	ffwall_ev_sync();
	got = ffwall_evst_take_all(r, buf, FFWALL_EVST_MAX);
	for (i = 0; i < got; i++) {
		if (buf[i].type != FFWALL_EVENT_MISS || buf[i].value >= nr_cpu_ids ||
		    cpumask_test_and_set_cpu(buf[i].value, seen)) {
			pr_err("selftest events/every CPU: record %u is type %u value %u\n",
			       i, buf[i].type, buf[i].value);
			err = -EINVAL;
			break;
		}
	}
	if (!err && (got != want || !cpumask_equal(seen, cpu_online_mask))) {
		pr_err("selftest events/every CPU: got %u records from %u CPUs, want one from each of %u\n",
		       got, cpumask_weight(seen), want);
		err = -EINVAL;
	}
	cpus_read_unlock();
	free_cpumask_var(seen);
	ffwall_events_release(r);
	return err;
}

/* With no reader open, raising does nothing at all. */
static int ffwall_evst_no_reader(struct ffwall_event *buf)
{
	u64 lost0 = ffwall_events_lost();
	u32 i;
	int cpu;

	for (i = 0; i < FFWALL_EV_STAGE * 2; i++)
		ffwall_evst_raise(FFWALL_EVENT_MISS, i);
	ffwall_ev_sync();
	for_each_possible_cpu(cpu) {
		struct ffwall_ev_stage *s = per_cpu_ptr(ffwall_ev_stages, cpu);

		if (s->n || s->lost) {
			pr_err("selftest events/no reader: CPU %d staged %u records\n", cpu, s->n);
			return -EINVAL;
		}
	}
	if (ffwall_events_lost() != lost0) {
		pr_err("selftest events/no reader: events_lost changed\n");
		return -EINVAL;
	}
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct ffwall_event *buf);
} ffwall_evst_system_cases[] = {
	{ "no reader", ffwall_evst_no_reader },
	{ "many readers", ffwall_evst_many_readers },
	{ "stage full", ffwall_evst_stage_full },
	{ "slow reader", ffwall_evst_slow_reader },
	{ "every CPU", ffwall_evst_every_cpu },
	{ "no reader, after the others", ffwall_evst_no_reader },
};

static int ffwall_events_selftest(void)
{
	struct ffwall_event *buf;
	unsigned int i;
	int err = 0, cpu;

	buf = kvcalloc(FFWALL_EVST_MAX, sizeof(*buf), GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	for (i = 0; i < ARRAY_SIZE(ffwall_evst_ring_cases) && !err; i++)
		err = ffwall_evst_ring_case(&ffwall_evst_ring_cases[i], buf);
	for (i = 0; i < ARRAY_SIZE(ffwall_evst_system_cases) && !err; i++) {
		err = ffwall_evst_system_cases[i].fn(buf);
		if (err)
			pr_err("selftest events/%s failed\n", ffwall_evst_system_cases[i].name);
	}
	kvfree(buf);
	if (err)
		return err;

	/* The tests' losses are not the module's: STATS starts from 0. */
	for_each_possible_cpu(cpu)
		per_cpu(ffwall_ev_lost, cpu) = 0;
	pr_info("selftest events: %zu ring cases, %zu system cases passed\n",
		ARRAY_SIZE(ffwall_evst_ring_cases), ARRAY_SIZE(ffwall_evst_system_cases));
	return 0;
}

/* ------------------------------------------------------------------------ */
/*
 * DEBUG builds only: writing N to /sys/module/ffwall/parameters/debug_raise
 * raises N EVICTED events (address ::ffff:10.x.y.z where x.y.z is i in
 * big-endian order, value i), so that the guest tests can watch records
 * reach userland before anything else raises them.  Not part of the ABI;
 * absent from release builds.
 *
 * Raised in chunks on one CPU, each chunk drained before the next, so the
 * records keep their order and only the readers' rings can lose any.
 */
#define FFWALL_EVST_CHUNK	32

static int ffwall_evst_debug_raise(const char *val, const struct kernel_param *kp)
{
	u8 addr[16] = { [10] = 0xff, [11] = 0xff, [12] = 10 };
	u32 n, i, end;
	int err, cpu;

	err = kstrtou32(val, 0, &n);
	if (err)
		return err;
	if (n > 1000000)
		return -EINVAL;
	/*
	 * Also called for insmod arguments, before init; and a write may
	 * race with unload: a module reference keeps the stages alive.
	 */
	if (!READ_ONCE(ffwall_ev_nreaders) || !try_module_get(THIS_MODULE))
		return 0;
	for (i = 0; i < n; i = end) {
		end = min(n, i + FFWALL_EVST_CHUNK);
		cpu = get_cpu();
		for (; i < end; i++) {
			addr[13] = i >> 16;
			addr[14] = i >> 8;
			addr[15] = i;
			ffwall_event_raise(FFWALL_EVENT_EVICTED, addr, 128, 0, i);
		}
		put_cpu();
		irq_work_sync(&per_cpu_ptr(ffwall_ev_stages, cpu)->work);
		cond_resched();
	}
	module_put(THIS_MODULE);
	return 0;
}

static const struct kernel_param_ops ffwall_evst_debug_raise_ops = {
	.set = ffwall_evst_debug_raise,
};

module_param_cb(debug_raise, &ffwall_evst_debug_raise_ops, NULL, 0200);
MODULE_PARM_DESC(debug_raise, "DEBUG builds only, for tests: write N to raise N EVICTED events");
