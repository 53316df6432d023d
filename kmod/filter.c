// SPDX-License-Identifier: GPL-2.0
/*
 * ffwall: the membership filter, a blocked Bloom filter over every active
 * ban of the daemon's database (FFWALL_FILTER_BLOCKED_BLOOM in the uapi
 * header, kmod/DESIGN-filter.md).
 *
 * Locking
 *   Writers (FILTER_LOAD, FILTER_ADD, unload) hold ffwall_fs.lock.  The
 *   filter is published with rcu_assign_pointer(); a reload unpublishes the
 *   old one, waits for a grace period (synchronize_rcu()) and frees it, all
 *   under the lock, so at most two filters exist at any time and nothing is
 *   queued behind RCU.
 *
 *   FILTER_ADD sets bits in the live filter with set_bit_le(), an atomic
 *   read-modify-write of one word.  Readers test bits without a lock: a
 *   reader racing with an ADD sees each word before or after the store, so
 *   a member being added may miss for that one packet, and no bit already
 *   set is ever seen clear.  Bits are never cleared in a live filter.
 *
 *   The packet path (probe, rate limiter, counters) runs under
 *   rcu_read_lock() and touches the filter's header, one 64-byte block of
 *   bits and this CPU's private data.
 */
#include <linux/bitops.h>
#include <linux/debugfs.h>
#include <linux/errno.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <linux/in.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/math64.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/random.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/siphash.h>
#include <linux/sizes.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "filter.h"

#define FFWALL_FILTER_BLOCK_BITS	(FFWALL_FILTER_BLOCK_BYTES * 8)
/* Bytes of user data copied between two cond_resched(). */
#define FFWALL_FILTER_COPY_CHUNK	SZ_1M
/* Addresses of one FILTER_ADD copied at a time. */
#define FFWALL_FILTER_ADD_CHUNK		256U

/* TCP flag bits of byte 13 of the header. */
#define FFWALL_TCP_SYN	0x02
#define FFWALL_TCP_RST	0x04
#define FFWALL_TCP_ACK	0x10
/* SCTP chunk type INIT (RFC 9260), the first chunk after the 12-byte header. */
#define FFWALL_SCTP_INIT	1

struct ffwall_filter {
	siphash_key_t key;
	u32 nblocks;
	u32 nhashes;
	u64 size;
	u64 members;		/* written under the lock, read under RCU */
	u8 *bits;		/* 64-byte aligned, inside @mem */
	void *mem;
};

struct ffwall_filter_pcpu {
	u64 probes;
	u64 hits;
	u64 reports;
	/* MISS rate limiter: (tag << 32) | jiffies of the last report. */
	u64 slot[FFWALL_FILTER_REPORT_SLOTS];
};

struct ffwall_fstate {
	struct mutex lock;	/* serializes writers: load, add, unload */
	struct ffwall_filter __rcu *cur;
	struct ffwall_filter_pcpu __percpu *pcpu;
	siphash_key_t rl_key;	/* rate limiter's hash key, random */
};

static struct ffwall_fstate ffwall_fs;

static int ffwall_fstate_init(struct ffwall_fstate *fs)
{
	mutex_init(&fs->lock);
	RCU_INIT_POINTER(fs->cur, NULL);
	get_random_bytes(&fs->rl_key, sizeof(fs->rl_key));
	fs->pcpu = alloc_percpu(struct ffwall_filter_pcpu);
	return fs->pcpu ? 0 : -ENOMEM;
}

static void ffwall_filter_free(struct ffwall_filter *f)
{
	if (f) {
		kvfree(f->mem);
		kfree(f);
	}
}

/* Unpublishes and frees the filter; waits for a grace period. */
static void ffwall_fstate_clear(struct ffwall_fstate *fs)
{
	struct ffwall_filter *old;

	mutex_lock(&fs->lock);
	old = rcu_replace_pointer(fs->cur, NULL, lockdep_is_held(&fs->lock));
	if (old) {
		synchronize_rcu();
		ffwall_filter_free(old);
	}
	mutex_unlock(&fs->lock);
}

static void ffwall_fstate_destroy(struct ffwall_fstate *fs)
{
	ffwall_fstate_clear(fs);
	free_percpu(fs->pcpu);
	mutex_destroy(&fs->lock);
}

/* ---- Hashing and placement (the uapi header's rule) ------------------- */

/*
 * SipHash-2-4 over the 16 address bytes: siphash_2u64() takes them as two
 * little-endian words, as SipHash reads its input.  (memcpy() instead of
 * get_unaligned_le64(), whose header moved in 6.12; it compiles to loads.)
 */
static inline u64 ffwall_filter_hash(const siphash_key_t *key, const u8 *addr)
{
	__le64 w[2];

	memcpy(w, addr, sizeof(w));
	return siphash_2u64(le64_to_cpu(w[0]), le64_to_cpu(w[1]), key);
}

static inline u8 *ffwall_filter_block(const struct ffwall_filter *f, u64 h)
{
	u32 blk = (u32)(((h >> 32) * f->nblocks) >> 32);

	return f->bits + (size_t)blk * FFWALL_FILTER_BLOCK_BYTES;
}

/* Bit i of the member in its block: (a + i * b) mod 512. */
static inline unsigned int ffwall_filter_bit(u64 h, unsigned int i)
{
	u32 a = (u32)h;
	u32 b = (u32)(h >> 32) | 1;

	return (a + i * b) % FFWALL_FILTER_BLOCK_BITS;
}

static void ffwall_filter_set(struct ffwall_filter *f, const u8 *addr)
{
	u64 h = ffwall_filter_hash(&f->key, addr);
	u8 *blk = ffwall_filter_block(f, h);
	unsigned int i;

	for (i = 0; i < f->nhashes; i++)
		set_bit_le(ffwall_filter_bit(h, i), blk);
}

static bool ffwall_filter_test(const struct ffwall_filter *f, const u8 *addr)
{
	u64 h = ffwall_filter_hash(&f->key, addr);
	const u8 *blk = ffwall_filter_block(f, h);
	unsigned int i;

	for (i = 0; i < f->nhashes; i++)
		if (!test_bit_le(ffwall_filter_bit(h, i), blk))
			return false;
	return true;
}

/* ---- Writers ------------------------------------------------------------ */

static int ffwall_filter_check(const struct ffwall_filter_load *req)
{
	if (req->flags || req->reserved0 || req->reserved[0] || req->reserved[1])
		return -EINVAL;
	if (req->algorithm != FFWALL_FILTER_BLOCKED_BLOOM)
		return -EINVAL;
	if (!req->nhashes || req->nhashes > FFWALL_FILTER_MAX_HASHES)
		return -EINVAL;
	if (!req->size || req->size > FFWALL_FILTER_MAX_BYTES ||
	    req->size % FFWALL_FILTER_BLOCK_BYTES)
		return -EINVAL;
	return 0;
}

/* A filter for a checked @req, bits not initialised. */
static struct ffwall_filter *ffwall_filter_alloc(const struct ffwall_filter_load *req)
{
	struct ffwall_filter *f;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return NULL;
	/* kvmalloc() aligns only to 8 bytes for some sizes (and under KFENCE). */
	f->mem = kvmalloc(req->size + FFWALL_FILTER_BLOCK_BYTES - 1,
			  GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!f->mem) {
		kfree(f);
		return NULL;
	}
	f->bits = PTR_ALIGN((u8 *)f->mem, FFWALL_FILTER_BLOCK_BYTES);
	f->size = req->size;
	f->nblocks = (u32)(req->size / FFWALL_FILTER_BLOCK_BYTES);
	f->nhashes = req->nhashes;
	/* seed[0] is k0, the first 8 key bytes read little-endian: key[0]. */
	f->key.key[0] = req->seed[0];
	f->key.key[1] = req->seed[1];
	f->members = req->members;
	return f;
}

static int ffwall_filter_fill_user(struct ffwall_filter *f, const void __user *src)
{
	u64 off, n;

	for (off = 0; off < f->size; off += n) {
		n = min_t(u64, f->size - off, FFWALL_FILTER_COPY_CHUNK);
		if (copy_from_user(f->bits + off, src + off, n))
			return -EFAULT;
		cond_resched();
	}
	return 0;
}

/*
 * Replaces the filter.  The bits come from @udata (user) or @kdata
 * (selftests), or are zero when both are NULL.  Everything is checked and
 * copied before the swap: on error the old filter stays.
 */
static int ffwall_filter_load(struct ffwall_fstate *fs,
			      const struct ffwall_filter_load *req,
			      const void __user *udata, const void *kdata)
{
	struct ffwall_filter *f, *old;
	int err;

	err = ffwall_filter_check(req);
	if (err)
		return err;
	/* Taken before the allocation: two filters at most, whatever the callers. */
	err = mutex_lock_killable(&fs->lock);
	if (err)
		return err;
	f = ffwall_filter_alloc(req);
	if (!f) {
		err = -ENOMEM;
		goto out_unlock;
	}
	if (udata) {
		err = ffwall_filter_fill_user(f, udata);
		if (err)
			goto out_free;
	} else if (kdata) {
		memcpy(f->bits, kdata, f->size);
	} else {
		memset(f->bits, 0, f->size);
	}
	old = rcu_replace_pointer(fs->cur, f, lockdep_is_held(&fs->lock));
	if (old) {
		synchronize_rcu();
		ffwall_filter_free(old);
	}
	mutex_unlock(&fs->lock);
	return 0;

out_free:
	ffwall_filter_free(f);
out_unlock:
	mutex_unlock(&fs->lock);
	return err;
}

/* Adds @n addresses (16 bytes each) of kernel memory.  Caller holds the lock. */
static void ffwall_filter_add_locked(struct ffwall_filter *f, const u8 *addrs, u32 n)
{
	u32 i;

	for (i = 0; i < n; i++)
		ffwall_filter_set(f, addrs + (size_t)i * 16);
	WRITE_ONCE(f->members, f->members + n);
}

/* Selftests: FILTER_ADD of kernel addresses. */
static int __maybe_unused ffwall_filter_add_kernel(struct ffwall_fstate *fs,
						   const u8 *addrs, u32 n)
{
	struct ffwall_filter *f;
	int err = 0;

	mutex_lock(&fs->lock);
	f = rcu_dereference_protected(fs->cur, lockdep_is_held(&fs->lock));
	if (f)
		ffwall_filter_add_locked(f, addrs, n);
	else
		err = -ENOENT;
	mutex_unlock(&fs->lock);
	return err;
}

long ffwall_filter_ioc_load(void __user *arg)
{
	struct ffwall_filter_load req;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	return ffwall_filter_load(&ffwall_fs, &req, u64_to_user_ptr(req.data), NULL);
}

/*
 * FILTER_ADD copies the addresses in chunks.  A fault part way leaves the
 * chunks before it added: adding is idempotent, so retrying the whole batch
 * is safe.
 */
long ffwall_filter_ioc_add(void __user *arg)
{
	struct ffwall_fstate *fs = &ffwall_fs;
	struct ffwall_filter_add req;
	const u8 __user *src;
	struct ffwall_filter *f;
	u32 done, n;
	u8 *buf;
	int err;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.flags || req.reserved || req.count > FFWALL_BATCH_MAX)
		return -EINVAL;
	buf = kmalloc_array(FFWALL_FILTER_ADD_CHUNK, 16, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	err = mutex_lock_killable(&fs->lock);
	if (err)
		goto out_free;
	f = rcu_dereference_protected(fs->cur, lockdep_is_held(&fs->lock));
	if (!f) {
		err = -ENOENT;
		goto out_unlock;
	}
	src = u64_to_user_ptr(req.addrs);
	for (done = 0; done < req.count; done += n) {
		n = min(req.count - done, FFWALL_FILTER_ADD_CHUNK);
		if (copy_from_user(buf, src + (size_t)done * 16, (size_t)n * 16)) {
			err = -EFAULT;
			break;
		}
		ffwall_filter_add_locked(f, buf, n);
		cond_resched();
	}
out_unlock:
	mutex_unlock(&fs->lock);
out_free:
	kfree(buf);
	return err;
}

/* ---- Packet path ------------------------------------------------------- */

bool ffwall_filter_flow_start(const struct sk_buff *skb, unsigned int thoff,
			      u8 l4proto)
{
	unsigned int off;
	const u8 *p;
	u8 byte;

	switch (l4proto) {
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
		return true;	/* no handshake: every datagram, rate limited */
	case IPPROTO_TCP:
		off = 13;	/* flags */
		break;
	case IPPROTO_SCTP:
		off = 12;	/* type of the first chunk */
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		off = 0;	/* type */
		break;
	default:
		return false;
	}
	p = skb_header_pointer(skb, thoff + off, 1, &byte);
	if (!p)
		return false;
	switch (l4proto) {
	case IPPROTO_TCP:
		return (*p & (FFWALL_TCP_SYN | FFWALL_TCP_ACK | FFWALL_TCP_RST)) ==
		       FFWALL_TCP_SYN;
	case IPPROTO_SCTP:
		return *p == FFWALL_SCTP_INIT;
	case IPPROTO_ICMP:
		return *p == ICMP_ECHO;
	default:
		return *p == ICMPV6_ECHO_REQUEST;
	}
}

static bool __ffwall_filter_probe(struct ffwall_fstate *fs, const u8 *addr)
{
	const struct ffwall_filter *f = rcu_dereference(fs->cur);

	if (!f)
		return false;
	this_cpu_inc(fs->pcpu->probes);
	if (!ffwall_filter_test(f, addr))
		return false;
	this_cpu_inc(fs->pcpu->hits);
	return true;
}

bool ffwall_filter_active(void)
{
	return !!rcu_access_pointer(ffwall_fs.cur);
}

bool ffwall_filter_probe(const u8 *addr)
{
	return __ffwall_filter_probe(&ffwall_fs, addr);
}

/*
 * One slot per address hash on each CPU, direct-mapped: a slot remembers
 * the last address (a 32-bit tag) reported through it and when.  Another
 * address hashing to the same slot takes it over, so two addresses that
 * share a slot may each report more often than the interval; never less.
 */
static bool __ffwall_filter_should_report(struct ffwall_fstate *fs,
					  const u8 *addr, unsigned long now)
{
	u64 h = ffwall_filter_hash(&fs->rl_key, addr);
	u32 tag = (u32)(h >> 32) | 1;	/* never 0: an unused slot matches nothing */
	struct ffwall_filter_pcpu *pc;
	bool report = true;
	u64 *slot, old;

	pc = get_cpu_ptr(fs->pcpu);
	slot = &pc->slot[h & (FFWALL_FILTER_REPORT_SLOTS - 1)];
	old = READ_ONCE(*slot);
	if ((u32)(old >> 32) == tag &&
	    (u32)((u32)now - (u32)old) < FFWALL_FILTER_REPORT_INTERVAL)
		report = false;
	else
		WRITE_ONCE(*slot, (u64)tag << 32 | (u32)now);
	put_cpu_ptr(fs->pcpu);
	if (report)
		this_cpu_inc(fs->pcpu->reports);
	return report;
}

bool ffwall_filter_should_report(const u8 *addr)
{
	return __ffwall_filter_should_report(&ffwall_fs, addr, jiffies);
}

static void ffwall_fstate_stats(struct ffwall_fstate *fs, struct ffwall_filter_stats *s)
{
	const struct ffwall_filter *f;
	int cpu;

	memset(s, 0, sizeof(*s));
	for_each_possible_cpu(cpu) {
		const struct ffwall_filter_pcpu *pc = per_cpu_ptr(fs->pcpu, cpu);

		s->probes += READ_ONCE(pc->probes);
		s->hits += READ_ONCE(pc->hits);
		s->reports += READ_ONCE(pc->reports);
	}
	/* Under RCU, not the lock: STATS never waits behind a 32 MiB load. */
	rcu_read_lock();
	f = rcu_dereference(fs->cur);
	if (f) {
		s->bytes = f->size;
		s->members = READ_ONCE(f->members);
	}
	rcu_read_unlock();
}

void ffwall_filter_get_stats(struct ffwall_filter_stats *s)
{
	ffwall_fstate_stats(&ffwall_fs, s);
}

/* ---- DEBUG: the loaded filter's bits in debugfs ------------------------- */

#ifdef DEBUG
#include "selftest/filter.c"

static struct dentry *ffwall_filter_dentry;

/*
 * /sys/kernel/debug/ffwall-filter: the bits of the loaded filter (empty
 * without one), so that the guest tests compare them with the userland
 * builder's.  A reload between two read() calls mixes two filters.
 */
static ssize_t ffwall_filter_dbg_read(struct file *file, char __user *buf,
				      size_t count, loff_t *ppos)
{
	struct ffwall_fstate *fs = &ffwall_fs;
	const struct ffwall_filter *f;
	ssize_t ret = 0;

	if (mutex_lock_killable(&fs->lock))
		return -EINTR;
	f = rcu_dereference_protected(fs->cur, lockdep_is_held(&fs->lock));
	if (f)
		ret = simple_read_from_buffer(buf, count, ppos, f->bits, f->size);
	mutex_unlock(&fs->lock);
	return ret;
}

static const struct file_operations ffwall_filter_dbg_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.read	= ffwall_filter_dbg_read,
	.llseek	= default_llseek,
};

static void ffwall_filter_debugfs_init(void)
{
	/* Best effort: the tests that need it fail loudly without it. */
	ffwall_filter_dentry = debugfs_create_file("ffwall-filter", 0400, NULL, NULL,
						   &ffwall_filter_dbg_fops);
}

static void ffwall_filter_debugfs_exit(void)
{
	debugfs_remove(ffwall_filter_dentry);
}
#else
static inline void ffwall_filter_debugfs_init(void) { }
static inline void ffwall_filter_debugfs_exit(void) { }
#endif

int ffwall_filter_init(void)
{
	int err;

	BUILD_BUG_ON(sizeof(struct ffwall_filter_load) != 72);
	BUILD_BUG_ON(sizeof(struct ffwall_filter_add) != 24);
	err = ffwall_fstate_init(&ffwall_fs);
	if (err)
		return err;
	ffwall_filter_debugfs_init();
	return 0;
}

/* After the hooks are gone; a last grace period covers any stray reader. */
void ffwall_filter_exit(void)
{
	ffwall_filter_debugfs_exit();
	ffwall_fstate_destroy(&ffwall_fs);
}
