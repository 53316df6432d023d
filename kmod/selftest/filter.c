// SPDX-License-Identifier: GPL-2.0
/*
 * ffwall: selftests of the membership filter, run at load under DEBUG
 * (Debian's kernels have no KUnit).  #included by filter.c, so they see its
 * internals.  Each case works on a private struct ffwall_fstate.
 *
 * The known-answer vectors and the false-positive count are shared with the
 * userland builder (test/tools/ffwall-filter.c, commands "selftest", "kat"
 * and "fpr"), which computes them with its own SipHash: the kernel and the
 * tool agree bit for bit.
 */

#include "selftest/filter_kat.h"

/* The userland builder's deterministic generator (gen_addr()). */
static void ffwall_fst_gen(u32 i, bool member, u8 a[16])
{
	memset(a, 0, 16);
	if (i % 2 == 0) {
		u32 v = (member ? 0x0a000000U : 0xac100000U) + i / 2;

		a[10] = 0xff;
		a[11] = 0xff;
		a[12] = v >> 24;
		a[13] = v >> 16;
		a[14] = v >> 8;
		a[15] = v;
	} else {
		a[0] = 0x20;
		a[1] = 0x01;
		a[2] = 0x0d;
		a[3] = 0xb8;
		a[5] = member ? 0 : 1;
		a[12] = i >> 24;
		a[13] = i >> 16;
		a[14] = i >> 8;
		a[15] = i;
	}
}

static struct ffwall_filter_load ffwall_fst_req(u64 size, u32 k, u64 s0, u64 s1)
{
	struct ffwall_filter_load req = {
		.size = size,
		.algorithm = FFWALL_FILTER_BLOCKED_BLOOM,
		.nhashes = k,
		.seed = { s0, s1 },
	};

	return req;
}

static bool ffwall_fst_probe(struct ffwall_fstate *fs, const u8 *addr)
{
	bool hit;

	rcu_read_lock();
	hit = __ffwall_filter_probe(fs, addr);
	rcu_read_unlock();
	return hit;
}

static struct ffwall_filter *ffwall_fst_cur(struct ffwall_fstate *fs)
{
	return rcu_dereference_protected(fs->cur, 1);
}

#define FST_FAIL(fmt, ...) ({					\
	pr_err("selftest filter: " fmt "\n", ##__VA_ARGS__);	\
	-EINVAL;						\
})

/*
 * Known answers: the kernel's SipHash against the reference vector, then
 * each vector's block and bits, set through the real add path into an empty
 * filter and read back byte by byte; the placement is also recomputed here
 * with other arithmetic (a walk of the progression, mul_u64_u32_shr()).
 */
static int ffwall_fst_kat(struct ffwall_fstate *fs)
{
	static const siphash_key_t refkey = {
		{ 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL }
	};
	u8 msg[16], want[FFWALL_FILTER_BLOCK_BYTES];
	unsigned int v, i;
	int err;

	for (i = 0; i < 16; i++)
		msg[i] = i;
	if (ffwall_filter_hash(&refkey, msg) != 0x3f2acc7f57c29bdbULL)
		return FST_FAIL("SipHash-2-4 reference vector: got %016llx",
				ffwall_filter_hash(&refkey, msg));

	for (v = 0; v < ARRAY_SIZE(ffwall_filter_kats); v++) {
		const struct ffwall_filter_kat *t = &ffwall_filter_kats[v];
		struct ffwall_filter_load req;
		struct ffwall_filter *f;
		u32 pos, step, blk;
		u64 h;
		u8 *b;

		req = ffwall_fst_req((u64)t->nblocks * FFWALL_FILTER_BLOCK_BYTES, t->k,
				     t->seed[0], t->seed[1]);
		err = ffwall_filter_load(fs, &req, NULL, NULL);
		if (err)
			return FST_FAIL("kat %u: load: %d", v, err);
		err = ffwall_filter_add_kernel(fs, t->addr, 1);
		if (err)
			return FST_FAIL("kat %u: add: %d", v, err);
		f = ffwall_fst_cur(fs);
		h = ffwall_filter_hash(&f->key, t->addr);
		if (h != t->hash)
			return FST_FAIL("kat %u: hash %016llx, want %016llx", v, h, t->hash);

		/* Independent placement from the known hash. */
		blk = (u32)mul_u64_u32_shr(t->hash >> 32, t->nblocks, 32);
		if (blk != t->block)
			return FST_FAIL("kat %u: block %u, want %u", v, blk, t->block);
		memset(want, 0, sizeof(want));
		pos = (u32)t->hash % 512;
		step = ((u32)(t->hash >> 32) | 1) % 512;
		for (i = 0; i < t->k; i++) {
			if (pos != t->bit[i])
				return FST_FAIL("kat %u: bit %u at %u, want %u", v, i, pos,
						t->bit[i]);
			want[pos / 8] |= 1 << (pos % 8);
			pos = (pos + step) % 512;
		}

		/* The filter holds exactly those bits in that block. */
		b = f->bits + (size_t)t->block * FFWALL_FILTER_BLOCK_BYTES;
		if (memcmp(b, want, sizeof(want)))
			return FST_FAIL("kat %u: block %u holds other bits", v, t->block);
		if (memchr_inv(f->bits, 0, (size_t)t->block * FFWALL_FILTER_BLOCK_BYTES) ||
		    memchr_inv(b + FFWALL_FILTER_BLOCK_BYTES, 0,
			       f->size - ((size_t)t->block + 1) * FFWALL_FILTER_BLOCK_BYTES))
			return FST_FAIL("kat %u: bits outside block %u", v, t->block);
		if (!ffwall_fst_probe(fs, t->addr))
			return FST_FAIL("kat %u: the member misses", v);
	}
	return 0;
}

/* FILTER_LOAD validation: nothing changes on error. */
static int ffwall_fst_validation(struct ffwall_fstate *fs)
{
	static const struct {
		const char *what;
		u64 size;
		u32 alg, k, flags, r0;
		u64 r1, r2;
		int err;
	} cases[] = {
		{ "ok", 64, 1, 1, 0, 0, 0, 0, 0 },
		{ "size 0", 0, 1, 7, 0, 0, 0, 0, -EINVAL },
		{ "size 63", 63, 1, 7, 0, 0, 0, 0, -EINVAL },
		{ "size 65", 65, 1, 7, 0, 0, 0, 0, -EINVAL },
		{ "size 96", 96, 1, 7, 0, 0, 0, 0, -EINVAL },
		{ "size max + 64", FFWALL_FILTER_MAX_BYTES + 64ULL, 1, 7, 0, 0, 0, 0, -EINVAL },
		{ "size 2^63", 1ULL << 63, 1, 7, 0, 0, 0, 0, -EINVAL },
		{ "algorithm 0", 64, 0, 7, 0, 0, 0, 0, -EINVAL },
		{ "algorithm 2", 64, 2, 7, 0, 0, 0, 0, -EINVAL },
		{ "nhashes 0", 64, 1, 0, 0, 0, 0, 0, -EINVAL },
		{ "nhashes 17", 64, 1, 17, 0, 0, 0, 0, -EINVAL },
		{ "flags", 64, 1, 7, 1, 0, 0, 0, -EINVAL },
		{ "reserved0", 64, 1, 7, 0, 1, 0, 0, -EINVAL },
		{ "reserved[0]", 64, 1, 7, 0, 0, 1, 0, -EINVAL },
		{ "reserved[1]", 64, 1, 7, 0, 0, 0, 1ULL << 63, -EINVAL },
		{ "nhashes 16, 128 bytes", 128, 1, 16, 0, 0, 0, 0, 0 },
	};
	struct ffwall_filter *before;
	unsigned int i;
	int err;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct ffwall_filter_load req = ffwall_fst_req(cases[i].size, cases[i].k, 1, 2);

		req.algorithm = cases[i].alg;
		req.flags = cases[i].flags;
		req.reserved0 = cases[i].r0;
		req.reserved[0] = cases[i].r1;
		req.reserved[1] = cases[i].r2;
		before = ffwall_fst_cur(fs);
		err = ffwall_filter_load(fs, &req, NULL, NULL);
		if (err != cases[i].err)
			return FST_FAIL("load %s: %d, want %d", cases[i].what, err, cases[i].err);
		if (err && ffwall_fst_cur(fs) != before)
			return FST_FAIL("load %s: the filter changed on error", cases[i].what);
		if (!err && (ffwall_fst_cur(fs)->size != cases[i].size ||
			     ffwall_fst_cur(fs)->nhashes != cases[i].k))
			return FST_FAIL("load %s: wrong geometry", cases[i].what);
	}
	return 0;
}

/*
 * Members from the shared generator: no false negatives, and the false
 * positives among non-members are exactly the userland builder's count
 *   ffwall-filter fpr -m 4000 -q 100000 -b 5184 -k 6 \
 *	-s 0123456789abcdef:fedcba9876543210
 * (873, measured 0.873%), within tolerance of the model's 0.9994% (5 sigma
 * plus 10%, as the tool's check).  Then a reload swaps the filter.
 */
#define FST_MEMBERS	4000U
#define FST_QUERIES	100000U
#define FST_FP_EXACT	873U
#define FST_FPR_PPM	9994U
#define FST_TOL_PPM	2575U	/* 5 * sqrt(p(1 - p) / Q) + 0.1 p, in ppm */

static int ffwall_fst_members(struct ffwall_fstate *fs)
{
	struct ffwall_filter_load req = ffwall_fst_req(5184, 6, 0x0123456789abcdefULL,
						       0xfedcba9876543210ULL);
	struct ffwall_filter_stats st0, st1;
	u32 i, fp = 0, ppm;
	u8 a[16];
	int err;

	err = ffwall_filter_load(fs, &req, NULL, NULL);
	if (err)
		return FST_FAIL("members: load: %d", err);
	for (i = 0; i < FST_MEMBERS; i++) {
		ffwall_fst_gen(i, true, a);
		err = ffwall_filter_add_kernel(fs, a, 1);
		if (err)
			return FST_FAIL("members: add: %d", err);
	}
	ffwall_fstate_stats(fs, &st0);
	if (st0.members != FST_MEMBERS || st0.bytes != 5184)
		return FST_FAIL("members: stats members %llu bytes %llu", st0.members, st0.bytes);
	for (i = 0; i < FST_MEMBERS; i++) {
		ffwall_fst_gen(i, true, a);
		if (!ffwall_fst_probe(fs, a))
			return FST_FAIL("members: false negative for member %u", i);
	}
	for (i = 0; i < FST_QUERIES; i++) {
		ffwall_fst_gen(i, false, a);
		fp += ffwall_fst_probe(fs, a);
		if (i % 4096 == 0)
			cond_resched();
	}
	ffwall_fstate_stats(fs, &st1);
	if (st1.probes - st0.probes != FST_MEMBERS + FST_QUERIES ||
	    st1.hits - st0.hits != FST_MEMBERS + fp)
		return FST_FAIL("members: counters probes %llu hits %llu",
				st1.probes - st0.probes, st1.hits - st0.hits);
	ppm = (u32)div_u64((u64)fp * 1000000, FST_QUERIES);
	pr_info("selftest filter: %u members in 5184 bytes (10.37 bits each), k 6: %u false positives in %u (%u ppm, model %u ppm)\n",
		FST_MEMBERS, fp, FST_QUERIES, ppm, FST_FPR_PPM);
	if (ppm + FST_TOL_PPM < FST_FPR_PPM || ppm > FST_FPR_PPM + FST_TOL_PPM)
		return FST_FAIL("members: FPR %u ppm, model %u +- %u", ppm, FST_FPR_PPM,
				FST_TOL_PPM);
	if (fp != FST_FP_EXACT)
		return FST_FAIL("members: %u false positives, the userland builder finds %u",
				fp, FST_FP_EXACT);

	/* A reload swaps in an empty filter: the members are gone. */
	req = ffwall_fst_req(5184, 6, 0x0123456789abcdefULL, 0xfedcba9876543210ULL);
	err = ffwall_filter_load(fs, &req, NULL, NULL);
	if (err)
		return FST_FAIL("reload: %d", err);
	for (i = 0; i < 64; i++) {
		ffwall_fst_gen(i, true, a);
		if (ffwall_fst_probe(fs, a))
			return FST_FAIL("reload: member %u still hits", i);
	}
	ffwall_fst_gen(7, true, a);
	err = ffwall_filter_add_kernel(fs, a, 1);
	if (err || !ffwall_fst_probe(fs, a))
		return FST_FAIL("reload: an add after the reload is not honoured (%d)", err);
	return 0;
}

/* A filter loaded from a caller's bits: copied, probed, swapped. */
static int ffwall_fst_load_bits(struct ffwall_fstate *fs)
{
	struct ffwall_filter_load req = ffwall_fst_req(128, 3, 5, 6);
	u8 *bits, a[16];
	int err = 0;

	bits = kzalloc(128, GFP_KERNEL);
	if (!bits)
		return -ENOMEM;
	ffwall_fst_gen(1, true, a);
	/* Build the filter here by the rule, then load it. */
	{
		siphash_key_t key = { { 5, 6 } };
		u64 h = ffwall_filter_hash(&key, a);
		u8 *blk = bits + (size_t)mul_u64_u32_shr(h >> 32, 2, 32) * 64;
		unsigned int i, n;

		for (i = 0; i < 3; i++) {
			n = ((u32)h + i * ((u32)(h >> 32) | 1)) % 512;
			blk[n / 8] |= 1 << (n % 8);
		}
	}
	err = ffwall_filter_load(fs, &req, NULL, bits);
	if (err) {
		err = FST_FAIL("load bits: %d", err);
		goto out;
	}
	if (!ffwall_fst_probe(fs, a))
		err = FST_FAIL("load bits: the member misses");
	else if (memcmp(ffwall_fst_cur(fs)->bits, bits, 128))
		err = FST_FAIL("load bits: the copy differs");
	else if (((unsigned long)ffwall_fst_cur(fs)->bits) % FFWALL_FILTER_BLOCK_BYTES)
		err = FST_FAIL("load bits: the blocks are not cache-line aligned");
out:
	kfree(bits);
	return err;
}

/* The MISS rate limiter, with its clock given. */
static int ffwall_fst_ratelimit(struct ffwall_fstate *fs)
{
	const unsigned long t0 = 1000000, iv = FFWALL_FILTER_REPORT_INTERVAL;
	static const struct {
		u8 addr;	/* ffwall_fst_gen(addr, true) */
		unsigned long dt;
		bool report;
	} steps[] = {
		{ 0, 0, true },		/* first time */
		{ 0, 0, false },	/* again at once */
		{ 1, 0, true },		/* another address */
		{ 0, 1, false },
		{ 1, 1, false },
		{ 0, 0, false },	/* dt: from t0 */
	};
	u32 reports0 = 0, reports1;
	struct ffwall_filter_stats st;
	unsigned int i, slot0;
	bool got;
	u8 a[16], b[16];

	/*
	 * The steps assume addresses 0 and 1 use different slots.  The key is
	 * random, so they share one once in FFWALL_FILTER_REPORT_SLOTS loads:
	 * draw a new key until they do not.
	 */
	for (i = 0; i < 32; i++) {
		ffwall_fst_gen(0, true, a);
		ffwall_fst_gen(1, true, b);
		if (((ffwall_filter_hash(&fs->rl_key, a) ^ ffwall_filter_hash(&fs->rl_key, b)) &
		     (FFWALL_FILTER_REPORT_SLOTS - 1)) != 0)
			break;
		get_random_bytes(&fs->rl_key, sizeof(fs->rl_key));
	}
	ffwall_fstate_stats(fs, &st);
	reports0 = st.reports;
	preempt_disable();	/* one CPU's slots */
	for (i = 0; i < ARRAY_SIZE(steps); i++) {
		ffwall_fst_gen(steps[i].addr, true, a);
		got = __ffwall_filter_should_report(fs, a, t0 + steps[i].dt);
		if (got != steps[i].report) {
			preempt_enable();
			return FST_FAIL("ratelimit step %u: %d", i, got);
		}
	}
	/* The interval passes for one address. */
	ffwall_fst_gen(0, true, a);
	got = __ffwall_filter_should_report(fs, a, t0 + iv - 1);
	if (!got)
		got = __ffwall_filter_should_report(fs, a, t0 + iv);
	else
		got = false;
	if (!got) {
		preempt_enable();
		return FST_FAIL("ratelimit: no report after the interval");
	}
	if (__ffwall_filter_should_report(fs, a, t0 + iv + iv / 2)) {
		preempt_enable();
		return FST_FAIL("ratelimit: a report within the new interval");
	}
	/* jiffies wrapping around 2^32 changes nothing. */
	if (!__ffwall_filter_should_report(fs, a, 0xffffffffUL - 2) ||
	    __ffwall_filter_should_report(fs, a, 0xffffffffUL + 3)) {
		preempt_enable();
		return FST_FAIL("ratelimit: wrong across the jiffies wrap");
	}
	/* Another address in the same slot takes it over. */
	slot0 = ffwall_filter_hash(&fs->rl_key, a) & (FFWALL_FILTER_REPORT_SLOTS - 1);
	for (i = 100; i < 100000; i++) {
		ffwall_fst_gen(i, false, b);
		if ((ffwall_filter_hash(&fs->rl_key, b) &
		     (FFWALL_FILTER_REPORT_SLOTS - 1)) == slot0)
			break;
	}
	if (i == 100000 ||
	    !__ffwall_filter_should_report(fs, b, 0xffffffffUL + 4) ||
	    !__ffwall_filter_should_report(fs, a, 0xffffffffUL + 5)) {
		preempt_enable();
		return FST_FAIL("ratelimit: a colliding address does not take the slot");
	}
	preempt_enable();
	ffwall_fstate_stats(fs, &st);
	reports1 = st.reports;
	/* 2 in steps, 1 after the interval, 1 at the wrap, 2 for the collision. */
	if (reports1 - reports0 != 6)
		return FST_FAIL("ratelimit: %u reports counted", reports1 - reports0);
	return 0;
}

/* What starts a flow, on real skbs. */
static int ffwall_fst_flow_start(void)
{
	static const struct {
		u8 proto;
		u8 len;		/* bytes of transport header present */
		u8 off;		/* where @byte goes */
		u8 byte;
		bool start;
	} cases[] = {
		{ IPPROTO_TCP, 20, 13, FFWALL_TCP_SYN, true },
		{ IPPROTO_TCP, 20, 13, FFWALL_TCP_SYN | 0xc0, true },	/* ECN setup */
		{ IPPROTO_TCP, 20, 13, FFWALL_TCP_SYN | FFWALL_TCP_ACK, false },
		{ IPPROTO_TCP, 20, 13, FFWALL_TCP_SYN | FFWALL_TCP_RST, false },
		{ IPPROTO_TCP, 20, 13, FFWALL_TCP_ACK, false },
		{ IPPROTO_TCP, 20, 13, 0, false },
		{ IPPROTO_TCP, 13, 0, 0, false },	/* truncated */
		{ IPPROTO_UDP, 8, 0, 0, true },
		{ IPPROTO_UDPLITE, 8, 0, 0, true },
		{ IPPROTO_SCTP, 16, 12, FFWALL_SCTP_INIT, true },
		{ IPPROTO_SCTP, 16, 12, 0, false },	/* DATA */
		{ IPPROTO_ICMP, 8, 0, ICMP_ECHO, true },
		{ IPPROTO_ICMP, 8, 0, ICMP_ECHOREPLY, false },
		{ IPPROTO_ICMP, 8, 0, ICMP_DEST_UNREACH, false },
		{ IPPROTO_ICMPV6, 8, 0, ICMPV6_ECHO_REQUEST, true },
		{ IPPROTO_ICMPV6, 8, 0, ICMPV6_ECHO_REPLY, false },
		{ IPPROTO_ICMPV6, 8, 0, 135, false },	/* neighbour solicitation */
		{ IPPROTO_ICMPV6, 0, 0, 0, false },	/* truncated */
		{ IPPROTO_GRE, 8, 0, 0, false },
		{ IPPROTO_ESP, 8, 0, 0, false },
	};
	const unsigned int thoff = 20;	/* as after an IPv4 header */
	struct sk_buff *skb;
	unsigned int i;
	bool got;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		u8 *p;

		skb = alloc_skb(thoff + 32, GFP_KERNEL);
		if (!skb)
			return -ENOMEM;
		p = skb_put_zero(skb, thoff + cases[i].len);
		if (cases[i].len)
			p[thoff + cases[i].off] = cases[i].byte;
		got = ffwall_filter_flow_start(skb, thoff, cases[i].proto);
		kfree_skb(skb);
		if (got != cases[i].start)
			return FST_FAIL("flow start case %u (proto %u byte %#x): %d", i,
					cases[i].proto, cases[i].byte, got);
	}
	return 0;
}

/* No filter: probes miss without counting, adds fail with ENOENT. */
static int ffwall_fst_empty(struct ffwall_fstate *fs)
{
	struct ffwall_filter_stats st;
	u8 a[16];

	ffwall_fst_gen(0, true, a);
	if (ffwall_fst_probe(fs, a))
		return FST_FAIL("empty: a probe hits");
	if (ffwall_filter_add_kernel(fs, a, 1) != -ENOENT)
		return FST_FAIL("empty: add without a filter is not ENOENT");
	ffwall_fstate_stats(fs, &st);
	if (st.probes || st.hits || st.bytes || st.members)
		return FST_FAIL("empty: counters %llu %llu %llu %llu", st.probes, st.hits,
				st.bytes, st.members);
	return 0;
}

int ffwall_filter_selftest(void)
{
	static int (*const cases[])(struct ffwall_fstate *fs) = {
		ffwall_fst_empty,
		ffwall_fst_kat,
		ffwall_fst_validation,
		ffwall_fst_load_bits,
		ffwall_fst_members,
		ffwall_fst_ratelimit,
	};
	struct ffwall_fstate *fs;
	unsigned int i;
	int err;

	err = ffwall_fst_flow_start();
	if (err)
		return err;
	fs = kzalloc(sizeof(*fs), GFP_KERNEL);
	if (!fs)
		return -ENOMEM;
	err = ffwall_fstate_init(fs);
	for (i = 0; !err && i < ARRAY_SIZE(cases); i++)
		err = cases[i](fs);
	ffwall_fstate_destroy(fs);
	kfree(fs);
	if (!err)
		pr_info("selftest filter: %zu cases passed\n", ARRAY_SIZE(cases) + 1);
	return err;
}
