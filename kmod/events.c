// SPDX-License-Identifier: GPL-2.0
/*
 * ffwall: event records for readers of /dev/ffwall.
 *
 * The path of one event
 * ---------------------
 * 1. ffwall_event_raise() fills a record in the stage of the local CPU (an
 *    array of FFWALL_EV_STAGE records), with local interrupts disabled, and
 *    queues that CPU's irq_work.  No lock, no allocation.  When the stage
 *    is full the record is counted in stage->lost instead.
 * 2. The irq_work runs on the same CPU, in hardirq context (a self-IPI, or
 *    the next tick where there is none).  It walks the RCU list of readers
 *    and appends the staged records, then the stage's losses, to the ring
 *    of every reader; then it empties the stage and wakes the readers.
 * 3. read() copies whole records from its file's ring to userland.
 *
 * Locking
 * -------
 * struct ffwall_ev_stage (per CPU): touched only by its own CPU, and only
 *	with local interrupts disabled: by raisers and by the irq_work handler,
 *	which therefore never race.  No lock.  Not NMI-safe: no raiser runs in
 *	NMI context.
 * ffwall_ev_readers_lock (mutex, process context): serializes additions to
 *	and removals from ffwall_ev_readers, and writes of ffwall_ev_nreaders.
 * ffwall_ev_readers (RCU list): the irq_work walks it under rcu_read_lock().
 *	Release unlinks its reader under the mutex and frees it only after
 *	synchronize_rcu(), so the fan-out never writes into a freed ring.
 * reader->lock (spinlock, always taken with interrupts disabled: the
 *	fan-out runs in hardirq, read() and poll() use spin_lock_irq()):
 *	protects the ring's head and count, and lost.  Held for index updates
 *	and copies between kernel buffers only, never around copy_to_user().
 * reader->read_mutex: serializes the consumers of one ring (threads sharing
 *	the file).  The records [head, head + count) belong to the consumer:
 *	the producer only appends after them and only the consumer advances
 *	head, so read() copies them to userland without the spinlock and
 *	consumes them afterwards, only if the copy succeeded.
 *
 * Overflow
 * --------
 * Nothing is lost silently.  A full stage counts its losses, and the
 * fan-out charges them to every reader after the staged records; a full
 * ring counts its own.  A reader's pending losses (reader->lost) become an
 * OVERFLOW record, value = the number lost (several records if more than
 * U32_MAX), as soon as there is room for it: before the next record that
 * gets in, or when read() finds room.  Records lost are always later than
 * every record already in the ring, so the OVERFLOW sits exactly where the
 * gap is.  ffwall_ev_lost counts every record lost by every reader.
 */
#include <linux/atomic.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/irq_work.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/minmax.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/percpu.h>
#include <linux/rculist.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#include "events.h"
#include "uapi/ffwall.h"

/* Records one CPU can stage between two runs of its irq_work (2 KiB). */
#define FFWALL_EV_STAGE		64

/* Bounds and default of the event_ring_size parameter, in records. */
#define FFWALL_EV_RING_MIN	16U
#define FFWALL_EV_RING_MAX	65536U
#define FFWALL_EV_RING_DEFAULT	1024U

static_assert(sizeof(struct ffwall_event) == 32);

struct ffwall_ev_stage {
	struct irq_work work;
	u32 n;				/* records staged */
	u64 lost;			/* records lost after them */
	struct ffwall_event ev[FFWALL_EV_STAGE];
};

/* The ring of one open file. */
struct ffwall_ev_reader {
	struct list_head node;		/* on ffwall_ev_readers (RCU) */
	spinlock_t lock;		/* head, count, lost */
	struct mutex read_mutex;	/* one consumer at a time */
	wait_queue_head_t wait;		/* read() and poll() */
	u32 size;			/* records the ring holds */
	u32 head;			/* oldest record */
	u32 count;			/* records in the ring */
	u64 lost;			/* lost, not yet an OVERFLOW record */
	struct ffwall_event ev[];
};

/*
 * Allocated at init rather than DEFINE_PER_CPU: a module's static per-CPU
 * data comes out of a small reserve shared by every module (8 KiB on
 * x86_64), and a stage is 2 KiB.
 */
static struct ffwall_ev_stage __percpu *ffwall_ev_stages;
/* Records lost by all readers; written with interrupts disabled. */
static DEFINE_PER_CPU(u64, ffwall_ev_lost);

static DEFINE_MUTEX(ffwall_ev_readers_lock);
static LIST_HEAD(ffwall_ev_readers);
/* Open readers; raisers skip all work while it is 0 (read locklessly). */
static unsigned int ffwall_ev_nreaders;

static unsigned int ffwall_ev_ring_size = FFWALL_EV_RING_DEFAULT;

static int ffwall_ev_ring_size_set(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, FFWALL_EV_RING_MIN, FFWALL_EV_RING_MAX);
}

static const struct kernel_param_ops ffwall_ev_ring_size_ops = {
	.set = ffwall_ev_ring_size_set,
	.get = param_get_uint,
};

module_param_cb(event_ring_size, &ffwall_ev_ring_size_ops, &ffwall_ev_ring_size, 0644);
MODULE_PARM_DESC(event_ring_size,
		 "Event records in the ring of each file opened for reading, 16..65536, taken at open (default 1024: 32 KiB)");

/* ------------------------------------------------------------------------ */
/* One ring.  Callers hold reader->lock with interrupts disabled. */

static void ffwall_ev_put(struct ffwall_ev_reader *r, const struct ffwall_event *ev)
{
	u32 tail = r->head + r->count;

	if (tail >= r->size)
		tail -= r->size;
	r->ev[tail] = *ev;
	/* count and lost are also read locklessly: ffwall_ev_ready(). */
	WRITE_ONCE(r->count, r->count + 1);
}

/* Turn pending losses into OVERFLOW records while more than @keep slots are free. */
static void ffwall_ev_settle(struct ffwall_ev_reader *r, u32 keep)
{
	struct ffwall_event ov;
	u32 n;

	while (r->lost && r->size - r->count > keep) {
		n = min_t(u64, r->lost, U32_MAX);
		memset(&ov, 0, sizeof(ov));
		ov.type = FFWALL_EVENT_OVERFLOW;
		ov.prefix_len = 128;
		ov.value = n;
		ov.time = ktime_get_boottime_seconds();
		ffwall_ev_put(r, &ov);
		WRITE_ONCE(r->lost, r->lost - n);
	}
}

static void ffwall_ev_lose(struct ffwall_ev_reader *r, u64 n)
{
	WRITE_ONCE(r->lost, r->lost + n);
	this_cpu_add(ffwall_ev_lost, n);
}

/* Append @ev, after an OVERFLOW for earlier losses; or count it lost. */
static void ffwall_ev_push(struct ffwall_ev_reader *r, const struct ffwall_event *ev)
{
	ffwall_ev_settle(r, 1);
	if (!r->lost && r->count < r->size)
		ffwall_ev_put(r, ev);
	else
		ffwall_ev_lose(r, 1);
}

static bool ffwall_ev_ready(struct ffwall_ev_reader *r)
{
	return READ_ONCE(r->count) || READ_ONCE(r->lost);
}

/*
 * The consumer's side, under read_mutex: the records it may take, from
 * *@head on.  Pending losses become an OVERFLOW first if there is room.
 */
static u32 ffwall_ev_peek(struct ffwall_ev_reader *r, u32 *head)
{
	u32 n;

	spin_lock_irq(&r->lock);
	ffwall_ev_settle(r, 0);
	*head = r->head;
	n = r->count;
	spin_unlock_irq(&r->lock);
	return n;
}

static void ffwall_ev_consume(struct ffwall_ev_reader *r, u32 n)
{
	spin_lock_irq(&r->lock);
	r->head += n;
	if (r->head >= r->size)
		r->head -= r->size;
	WRITE_ONCE(r->count, r->count - n);
	spin_unlock_irq(&r->lock);
}

/* ------------------------------------------------------------------------ */
/* Raising and fan-out. */

void ffwall_event_raise(u16 type, const void *addr, u8 prefix_len, u8 flags,
			u32 value)
{
	struct ffwall_ev_stage *s;
	struct ffwall_event *ev;
	unsigned long irqflags;
	u64 now;

	if (!READ_ONCE(ffwall_ev_nreaders))
		return;
	now = ktime_get_boottime_seconds();

	local_irq_save(irqflags);
	s = this_cpu_ptr(ffwall_ev_stages);
	if (s->n < FFWALL_EV_STAGE) {
		ev = &s->ev[s->n++];
		ev->type = type;
		ev->prefix_len = prefix_len;
		ev->flags = flags;
		ev->value = value;
		ev->time = now;
		if (addr)
			memcpy(ev->addr, addr, sizeof(ev->addr));
		else
			memset(ev->addr, 0, sizeof(ev->addr));
	} else {
		s->lost++;
	}
	/* Already pending: a no-op that the handler will cover. */
	irq_work_queue(&s->work);
	local_irq_restore(irqflags);
}

/* irq_work of one CPU: runs on that CPU, hardirq context. */
static void ffwall_ev_drain(struct irq_work *work)
{
	struct ffwall_ev_stage *s = container_of(work, struct ffwall_ev_stage, work);
	struct ffwall_ev_reader *r;
	unsigned long irqflags;
	u32 i;

	/* Already so in hardirq; also right where irq_work runs in a thread. */
	local_irq_save(irqflags);
	if (!s->n && !s->lost)
		goto out;
	rcu_read_lock();
	list_for_each_entry_rcu(r, &ffwall_ev_readers, node) {
		spin_lock(&r->lock);
		for (i = 0; i < s->n; i++)
			ffwall_ev_push(r, &s->ev[i]);
		if (s->lost)
			ffwall_ev_lose(r, s->lost);
		spin_unlock(&r->lock);
		wake_up_interruptible_poll(&r->wait, EPOLLIN | EPOLLRDNORM);
	}
	rcu_read_unlock();
	s->n = 0;
	s->lost = 0;
out:
	local_irq_restore(irqflags);
}

/* Wait until every CPU's staged records have reached the rings. */
static void ffwall_ev_sync(void)
{
	int cpu;

	for_each_possible_cpu(cpu)
		irq_work_sync(&per_cpu_ptr(ffwall_ev_stages, cpu)->work);
}

u64 ffwall_events_lost(void)
{
	u64 sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += READ_ONCE(*per_cpu_ptr(&ffwall_ev_lost, cpu));
	return sum;
}

/* ------------------------------------------------------------------------ */
/* Readers. */

static struct ffwall_ev_reader *ffwall_ev_alloc(u32 size)
{
	struct ffwall_ev_reader *r;

	r = kvzalloc(struct_size(r, ev, size), GFP_KERNEL);
	if (!r)
		return NULL;
	INIT_LIST_HEAD(&r->node);
	spin_lock_init(&r->lock);
	mutex_init(&r->read_mutex);
	init_waitqueue_head(&r->wait);
	r->size = size;
	return r;
}

static void ffwall_ev_free(struct ffwall_ev_reader *r)
{
	mutex_destroy(&r->read_mutex);
	kvfree(r);
}

static struct ffwall_ev_reader *ffwall_ev_open_sized(u32 size)
{
	struct ffwall_ev_reader *r = ffwall_ev_alloc(size);

	if (!r)
		return ERR_PTR(-ENOMEM);
	mutex_lock(&ffwall_ev_readers_lock);
	list_add_tail_rcu(&r->node, &ffwall_ev_readers);
	WRITE_ONCE(ffwall_ev_nreaders, ffwall_ev_nreaders + 1);
	mutex_unlock(&ffwall_ev_readers_lock);
	return r;
}

struct ffwall_ev_reader *ffwall_events_open(void)
{
	u32 size = clamp(READ_ONCE(ffwall_ev_ring_size), FFWALL_EV_RING_MIN,
			 FFWALL_EV_RING_MAX);

	return ffwall_ev_open_sized(size);
}

void ffwall_events_release(struct ffwall_ev_reader *r)
{
	mutex_lock(&ffwall_ev_readers_lock);
	list_del_rcu(&r->node);
	WRITE_ONCE(ffwall_ev_nreaders, ffwall_ev_nreaders - 1);
	mutex_unlock(&ffwall_ev_readers_lock);
	/* A fan-out that still sees @r holds rcu_read_lock(). */
	synchronize_rcu();
	ffwall_ev_free(r);
}

ssize_t ffwall_events_read(struct ffwall_ev_reader *r, char __user *buf,
			   size_t len, bool nonblock)
{
	const size_t rec = sizeof(struct ffwall_event);
	u32 head, n, first;
	ssize_t ret;

	if (len < rec)
		return -EINVAL;

	for (;;) {
		if (nonblock) {
			if (!mutex_trylock(&r->read_mutex))
				return -EAGAIN;
		} else if (mutex_lock_interruptible(&r->read_mutex)) {
			return -ERESTARTSYS;
		}
		n = ffwall_ev_peek(r, &head);
		if (n)
			break;
		mutex_unlock(&r->read_mutex);
		if (nonblock)
			return -EAGAIN;
		if (wait_event_interruptible(r->wait, ffwall_ev_ready(r)))
			return -ERESTARTSYS;
	}

	n = min_t(size_t, n, len / rec);
	first = min(n, r->size - head);
	if (copy_to_user(buf, &r->ev[head], first * rec) ||
	    copy_to_user(buf + first * rec, &r->ev[0], (size_t)(n - first) * rec)) {
		ret = -EFAULT;
	} else {
		ffwall_ev_consume(r, n);
		ret = (ssize_t)n * rec;
	}
	mutex_unlock(&r->read_mutex);
	return ret;
}

__poll_t ffwall_events_poll(struct ffwall_ev_reader *r, struct file *file,
			    poll_table *wait)
{
	poll_wait(file, &r->wait, wait);
	return ffwall_ev_ready(r) ? EPOLLIN | EPOLLRDNORM : 0;
}

/* ------------------------------------------------------------------------ */

#ifdef DEBUG
static int ffwall_events_selftest(void);
#endif

int ffwall_events_init(void)
{
	int cpu;

	ffwall_ev_stages = alloc_percpu(struct ffwall_ev_stage);
	if (!ffwall_ev_stages)
		return -ENOMEM;
	for_each_possible_cpu(cpu)
		init_irq_work(&per_cpu_ptr(ffwall_ev_stages, cpu)->work, ffwall_ev_drain);

#ifdef DEBUG
	{
		int err = ffwall_events_selftest();

		if (err) {
			pr_err("event selftests failed (%d)\n", err);
			ffwall_events_exit();
			return err;
		}
	}
#endif
	return 0;
}

void ffwall_events_exit(void)
{
	/*
	 * No raiser is left and no file is open: wait for an irq_work still
	 * running or queued, after which no CPU touches the stages, which are
	 * freed here; the rings went with their files.
	 */
	ffwall_ev_sync();
	free_percpu(ffwall_ev_stages);
	ffwall_ev_stages = NULL;
}

#ifdef DEBUG
#include "selftest/events.c"
#endif
