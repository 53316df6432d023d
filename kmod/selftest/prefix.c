// SPDX-License-Identifier: GPL-2.0
/*
 * ffwall: selftests of the prefix sets, run at load under DEBUG (Debian's
 * kernels have no KUnit).  #included by prefix.c, so they can see its
 * internals.  Each case runs on a private set; time is passed explicitly.
 * Addresses are written as text: "10.0.0.0/8" is ::ffff:10.0.0.0/104, an
 * address without "/n" is exact (prefix_len 128).
 */
#include <linux/inet.h>

/* Fake owner: port set ids are the port itself; counts refs and events. */
struct pst_owner {
	int refs;
	u32 events;
	u8 last_event_len;
};

static int pst_portset_get(void *priv, const u16 *ports, u8 n, u16 *id)
{
	struct pst_owner *o = priv;

	if (n != 1)
		return -EINVAL;
	if (ports[0] == 9)	/* port 9: "no port set id left" */
		return -ENOSPC;
	o->refs++;
	*id = ports[0];
	return 0;
}

static void pst_portset_put(void *priv, u16 id)
{
	struct pst_owner *o = priv;

	o->refs--;
}

static void pst_portset_read(void *priv, u16 id, u16 *ports, u8 *n)
{
	ports[0] = id;
	*n = 1;
}

static void pst_expired(void *priv, const struct ffwall_pfx *e, u32 now)
{
	struct pst_owner *o = priv;

	o->events++;
	o->last_event_len = e->len;
}

static const struct ffwall_pset_ops pst_ops = {
	.portset_get = pst_portset_get,
	.portset_put = pst_portset_put,
	.portset_read = pst_portset_read,
	.expired = pst_expired,
};

/* "a.b.c.d[/n]" or an IPv6 address "[/n]" into 16 bytes and a length. */
static int pst_parse(const char *str, u8 *addr, u8 *len)
{
	const char *slash = strchr(str, '/');
	int alen = slash ? slash - str : strlen(str);
	unsigned int n = 128;
	const char *end;

	memset(addr, 0, 16);
	if (strnchr(str, alen, ':')) {
		if (!in6_pton(str, alen, addr, -1, &end) || end != str + alen)
			return -EINVAL;
		if (slash && kstrtouint(slash + 1, 10, &n))
			return -EINVAL;
	} else {
		if (!in4_pton(str, alen, addr + 12, -1, &end) || end != str + alen)
			return -EINVAL;
		addr[10] = 0xff;
		addr[11] = 0xff;
		if (slash && kstrtouint(slash + 1, 10, &n))
			return -EINVAL;
		if (slash)
			n += 96;
	}
	if (n > 128)
		return -EINVAL;
	*len = n;
	return 0;
}

static int pst_key(const char *str, struct ffwall_key *key, u8 *len)
{
	return pst_parse(str, (u8 *)key, len);
}

/* ------------------------------------------------------------------------ */
/* Records: validation, masking, the IPv4-mapped range. */

enum { PR_BAN, PR_ALLOW, PR_DEL_BAN, PR_DEL_ALLOW, PR_IS_V4, PR_MASK };

struct pst_rec {
	u8 kind;
	const char *a;
	u8 nports;
	u16 flags;
	u32 ttl;
	u16 port;
	u64 reserved;
	int expect;		/* errno, or 0/1 for PR_IS_V4 */
	const char *masked;	/* PR_MASK: a masked to its length */
};

static const struct pst_rec pst_recs[] = {
	{ PR_BAN, "10.0.0.0/8" },
	{ PR_BAN, "10.0.0.1/8", .expect = -EINVAL },	/* host bits */
	{ PR_BAN, "10.0.0.1", .expect = -EINVAL },	/* /128: exact table */
	{ PR_BAN, "10.0.0.1/32", .expect = -EINVAL },	/* IPv4 /32 is 128 */
	{ PR_BAN, "10.0.0.0/31" },			/* 127 */
	{ PR_BAN, "0.0.0.0/0" },
	{ PR_BAN, "::/0" },
	{ PR_BAN, "2001:db8::2/127" },
	{ PR_BAN, "2001:db8::1/127", .expect = -EINVAL },
	{ PR_BAN, "2001:db8::/32", .nports = 1, .port = 25 },
	{ PR_BAN, "2001:db8::/32", .nports = 2, .port = 25, .expect = -EINVAL },
	{ PR_BAN, "2001:db8::/32", .flags = 4, .expect = -EINVAL },
	{ PR_BAN, "2001:db8::/32", .ttl = FFWALL_TTL_MAX + 1U, .expect = -EINVAL },
	{ PR_BAN, "2001:db8::/32", .reserved = 1, .expect = -EINVAL },
	{ PR_BAN, "::fffe:0:0/95" },			/* IPv6, covers all IPv4 */
	{ PR_BAN, "::ffff:0:0/95", .expect = -EINVAL },
	{ PR_ALLOW, "10.0.0.1" },
	{ PR_ALLOW, "10.0.0.0/8" },
	{ PR_ALLOW, "::/0" },
	{ PR_ALLOW, "10.0.0.1/24", .expect = -EINVAL },
	{ PR_ALLOW, "10.0.0.0/8", .flags = FFWALL_F_PINNED, .expect = -EINVAL },
	{ PR_ALLOW, "10.0.0.0/8", .ttl = 5, .expect = -EINVAL },
	{ PR_ALLOW, "10.0.0.0/8", .nports = 1, .port = 25, .expect = -EINVAL },
	{ PR_ALLOW, "10.0.0.0/8", .port = 25, .expect = -EINVAL },
	{ PR_ALLOW, "10.0.0.0/8", .reserved = 1, .expect = -EINVAL },
	{ PR_DEL_BAN, "10.0.0.0/8" },
	{ PR_DEL_BAN, "10.0.0.1", .expect = -EINVAL },
	{ PR_DEL_BAN, "10.0.0.1/8", .expect = -EINVAL },
	{ PR_DEL_ALLOW, "10.0.0.1" },
	{ PR_DEL_ALLOW, "10.0.0.0/8", .reserved = 1, .expect = -EINVAL },
	{ PR_IS_V4, "10.0.0.0/8", .expect = 1 },
	{ PR_IS_V4, "0.0.0.0/0", .expect = 1 },
	{ PR_IS_V4, "10.0.0.1", .expect = 1 },
	{ PR_IS_V4, "::fffe:0:0/95", .expect = 0 },
	{ PR_IS_V4, "::/0", .expect = 0 },
	{ PR_IS_V4, "::ffff:0:0/96", .expect = 1 },
	{ PR_IS_V4, "2001:db8::/32", .expect = 0 },
	{ PR_IS_V4, "::1", .expect = 0 },
	{ PR_MASK, "10.1.2.3/8", .masked = "10.0.0.0/8" },
	{ PR_MASK, "10.1.2.3/0", .masked = "0.0.0.0/0" },
	{ PR_MASK, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/63",
	  .masked = "2001:db8:ffff:fffe::/63" },
	{ PR_MASK, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/65",
	  .masked = "2001:db8:ffff:ffff:8000::/65" },
	{ PR_MASK, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/0", .masked = "::/0" },
	{ PR_MASK, "2001:db8::7", .masked = "2001:db8::7" },
	{ PR_MASK, "2001:db8::7/127", .masked = "2001:db8::6/127" },
};

static int pst_records(void)
{
	struct ffwall_pfx_add a;
	struct ffwall_rule r;
	struct ffwall_key k, m, want;
	unsigned int i;
	u8 len, wlen;
	int got;

	for (i = 0; i < ARRAY_SIZE(pst_recs); i++) {
		const struct pst_rec *t = &pst_recs[i];

		memset(&r, 0, sizeof(r));
		if (pst_parse(t->a, r.addr, &r.prefix_len))
			goto bad_text;
		r.nports = t->nports;
		r.flags = t->flags;
		r.ttl = t->ttl;
		r.ports[0] = t->port;
		r.reserved = t->reserved;
		memcpy(&k, r.addr, sizeof(k));
		switch (t->kind) {
		case PR_BAN:
			got = ffwall_prefix_parse_rule(&r, &a);
			if (!got && (a.len != r.prefix_len || a.nports != t->nports))
				got = 99;
			break;
		case PR_ALLOW:
			got = ffwall_allow_parse_rule(&r, &a);
			break;
		case PR_DEL_BAN:
			got = ffwall_pfx_parse_del(&r, 127, &k, &len);
			break;
		case PR_DEL_ALLOW:
			got = ffwall_pfx_parse_del(&r, 128, &k, &len);
			break;
		case PR_IS_V4:
			got = ffwall_prefix_is_v4(&k, r.prefix_len);
			break;
		default:
			if (pst_key(t->masked, &want, &wlen))
				goto bad_text;
			ffwall_key_mask(&k, r.prefix_len, &m);
			got = !pfx_key_eq(&m, &want) ||
			      !ffwall_key_host_bits_zero(&m, r.prefix_len);
			break;
		}
		if (got != t->expect) {
			pr_err("prefix selftest records #%u (%s): got %d, want %d\n",
			       i, t->a, got, t->expect);
			return -EINVAL;
		}
	}
	return 0;
bad_text:
	pr_err("prefix selftest records #%u: bad address text\n", i);
	return -EINVAL;
}

/* ------------------------------------------------------------------------ */
/* Set operations, step by step. */

enum pst_op {
	PS_END,
	PS_CLOCK,	/* val: now */
	PS_ADD,		/* a, flags, ttl, port; val: 1 created, 0 updated */
	PS_ADD_ERR,	/* as ADD; val: the expected negative errno */
	PS_DEL,		/* a; val: 1 a live entry was removed, else 0 */
	PS_LOOKUP,	/* a; val: prefix length of the match, -1: none */
	PS_PROBES,	/* val: hash probes of the last PS_LOOKUP */
	PS_HIT,		/* a: must match; count a packet */
	PS_HITS,	/* a: must match; val: its hit count */
	PS_INFO,	/* a: must match; port: its port (0: none); ttl: ttl left */
	PS_COVERS,	/* a; val: 1 the range is inside one entry */
	PS_GC,		/* val: entries reclaimed */
	PS_FLUSH,	/* flags: with_flags; val: entries removed */
	PS_COUNT,	/* val: entries */
	PS_LENS,	/* val: lengths in use */
	PS_REFS,	/* val: port set references held */
	PS_EVENTS,	/* val: EXPIRED callbacks so far */
	PS_CHURN,	/* val: add and delete that many IPv4 /24s (172.16.0.0 on) */
	PS_SUM,		/* val: 1 the set has an IPv4 summary (counted in bytes) */
	PS_REBUILDS,	/* val: summaries built so far */
	PS_SUM_FAIL,	/* val: the next builds of a summary fail (no memory) */
};

struct pst_step {
	u8 op;
	u8 flags;
	u16 port;
	const char *a;
	u32 ttl;
	s32 val;
};

struct pst_case {
	const char *name;
	u8 kind;
	u32 max;
	const struct pst_step *steps;
};

#define P	FFWALL_F_PINNED
#define M	FFWALL_F_MONITOR

/* Longest prefix first, only lengths in use probed, IPv4 /0 vs ::/0. */
static const struct pst_step pst_lpm[] = {
	{ PS_LOOKUP, .a = "10.1.2.3", .val = -1 },
	{ PS_PROBES, .val = 0 },		/* empty: no probe at all */
	{ PS_ADD, .a = "10.0.0.0/8", .val = 1 },
	{ PS_ADD, .a = "10.1.0.0/16", .val = 1 },
	{ PS_ADD, .a = "10.1.2.0/24", .val = 1 },
	{ PS_ADD, .a = "10.2.0.0/16", .val = 1 },
	{ PS_ADD, .a = "2001:db8::/32", .val = 1 },
	{ PS_LENS, .val = 4 },
	{ PS_LOOKUP, .a = "10.1.2.3", .val = 120 },
	{ PS_PROBES, .val = 1 },
	{ PS_LOOKUP, .a = "10.1.3.3", .val = 112 },
	{ PS_PROBES, .val = 1 },		/* no /24 in 10.1.3: no 120 */
	{ PS_LOOKUP, .a = "10.2.0.9", .val = 112 },
	{ PS_LOOKUP, .a = "10.3.0.1", .val = 104 },
	{ PS_PROBES, .val = 1 },		/* nothing in 10.3/16 */
	{ PS_LOOKUP, .a = "11.0.0.1", .val = -1 },
	{ PS_PROBES, .val = 2 },		/* 104, 32: no more */
	{ PS_LOOKUP, .a = "2001:db8:1::1", .val = 32 },
	{ PS_PROBES, .val = 4 },
	{ PS_LOOKUP, .a = "2001:db9::1", .val = -1 },
	/* ::/0 covers everything, IPv4 included. */
	{ PS_ADD, .a = "::/0", .val = 1 },
	{ PS_LOOKUP, .a = "11.0.0.1", .val = 0 },
	{ PS_PROBES, .val = 3 },		/* 104, 32, 0 */
	{ PS_LOOKUP, .a = "2001:db9::1", .val = 0 },
	{ PS_DEL, .a = "::/0", .val = 1 },
	{ PS_DEL, .a = "::/0", .val = 0 },
	/* The IPv4 /0 covers only IPv4. */
	{ PS_ADD, .a = "0.0.0.0/0", .val = 1 },
	{ PS_LOOKUP, .a = "11.0.0.1", .val = 96 },
	{ PS_LOOKUP, .a = "2001:db9::1", .val = -1 },
	{ PS_LOOKUP, .a = "::1", .val = -1 },
	/* A deleted length is no longer probed. */
	{ PS_DEL, .a = "10.1.2.0/24", .val = 1 },
	{ PS_LOOKUP, .a = "10.1.2.3", .val = 112 },
	{ PS_PROBES, .val = 1 },
	{ PS_LOOKUP, .a = "2001:db9::1", .val = -1 },
	{ PS_PROBES, .val = 4 },		/* 112, 104, 96, 32 */
	{ PS_LENS, .val = 4 },
	{ PS_COUNT, .val = 5 },
	{ PS_END }
};

/* /127 of the ban set, /128 and /0 of the allowlist are tested below. */
static const struct pst_step pst_ban_edges[] = {
	{ PS_ADD, .a = "2001:db8::2/127", .val = 1 },
	{ PS_LOOKUP, .a = "2001:db8::2", .val = 127 },
	{ PS_LOOKUP, .a = "2001:db8::3", .val = 127 },
	{ PS_LOOKUP, .a = "2001:db8::4", .val = -1 },
	{ PS_LOOKUP, .a = "2001:db8::1", .val = -1 },
	{ PS_ADD_ERR, .a = "2001:db8::9", .val = -EINVAL },	/* /128 */
	{ PS_ADD_ERR, .a = "10.0.0.0/8", .port = 9, .val = -ENOSPC },
	{ PS_REFS, .val = 0 },
	{ PS_ADD_ERR, .a = "10.0.0.1/32", .val = -EINVAL },	/* /128 */
	{ PS_ADD, .a = "10.0.0.0/31", .val = 1 },
	{ PS_LOOKUP, .a = "10.0.0.1", .val = 127 },
	{ PS_LOOKUP, .a = "10.0.0.2", .val = -1 },
	{ PS_END }
};

static const struct pst_step pst_allow_edges[] = {
	{ PS_ADD, .a = "10.9.9.9", .val = 1 },
	{ PS_ADD, .a = "2001:db8::1", .val = 1 },
	{ PS_LOOKUP, .a = "10.9.9.9", .val = 128 },
	{ PS_LOOKUP, .a = "10.9.9.8", .val = -1 },
	{ PS_LOOKUP, .a = "2001:db8::1", .val = 128 },
	{ PS_ADD_ERR, .a = "10.9.9.0/24", .flags = P, .val = -EINVAL },
	{ PS_ADD_ERR, .a = "10.9.9.0/24", .ttl = 5, .val = -EINVAL },
	{ PS_ADD, .a = "::/0", .val = 1 },
	{ PS_LOOKUP, .a = "10.9.9.8", .val = 0 },
	{ PS_LOOKUP, .a = "2001::1", .val = 0 },
	{ PS_LOOKUP, .a = "10.9.9.9", .val = 128 },
	{ PS_PROBES, .val = 1 },
	{ PS_ADD, .a = "::/0", .val = 0 },			/* again: update */
	{ PS_COUNT, .val = 3 },
	{ PS_END }
};

/* Cover (ADD refused with EEXIST) against overlap (ADD accepted). */
static const struct pst_step pst_allow_cover[] = {
	{ PS_COVERS, .a = "10.0.0.1", .val = 0 },		/* empty */
	{ PS_ADD, .a = "10.0.0.0/8", .val = 1 },
	{ PS_ADD, .a = "2001:db8::/48", .val = 1 },
	{ PS_ADD, .a = "192.0.2.7", .val = 1 },
	{ PS_COVERS, .a = "10.1.0.0/16", .val = 1 },
	{ PS_COVERS, .a = "10.0.0.0/8", .val = 1 },
	{ PS_COVERS, .a = "10.255.255.255", .val = 1 },
	{ PS_COVERS, .a = "10.0.0.0/7", .val = 0 },		/* overlaps */
	{ PS_COVERS, .a = "0.0.0.0/0", .val = 0 },
	{ PS_COVERS, .a = "11.0.0.0/8", .val = 0 },
	{ PS_COVERS, .a = "2001:db8:0:1::/64", .val = 1 },
	{ PS_COVERS, .a = "2001:db8::/32", .val = 0 },
	{ PS_COVERS, .a = "192.0.2.7", .val = 1 },
	{ PS_COVERS, .a = "192.0.2.6/31", .val = 0 },
	{ PS_COVERS, .a = "::/0", .val = 0 },
	{ PS_LOOKUP, .a = "10.2.3.4", .val = 104 },
	{ PS_ADD, .a = "::/0", .val = 1 },
	{ PS_COVERS, .a = "0.0.0.0/0", .val = 1 },
	{ PS_COVERS, .a = "::/0", .val = 1 },
	{ PS_DEL, .a = "::/0", .val = 1 },
	{ PS_DEL, .a = "10.0.0.0/8", .val = 1 },
	{ PS_COVERS, .a = "10.1.0.0/16", .val = 0 },
	{ PS_END }
};

/* A full set refuses with ENOSPC; never evicts; expired entries make room. */
static const struct pst_step pst_enospc[] = {
	{ PS_CLOCK, .val = 100 },
	{ PS_ADD, .a = "10.0.0.0/8", .val = 1 },
	{ PS_ADD, .a = "10.1.0.0/16", .val = 1 },
	{ PS_ADD, .a = "10.2.0.0/16", .ttl = 10, .val = 1 },
	{ PS_ADD, .a = "2001:db8::/32", .flags = P, .val = 1 },
	{ PS_ADD_ERR, .a = "10.3.0.0/16", .val = -ENOSPC },
	{ PS_ADD, .a = "10.1.0.0/16", .port = 25, .val = 0 },	/* update */
	{ PS_REFS, .val = 1 },
	{ PS_COUNT, .val = 4 },
	{ PS_LOOKUP, .a = "10.3.0.1", .val = 104 },		/* still there */
	{ PS_CLOCK, .val = 110 },
	{ PS_ADD, .a = "10.3.0.0/16", .val = 1 },	/* reclaims 10.2/16 */
	{ PS_EVENTS, .val = 1 },
	{ PS_ADD_ERR, .a = "10.4.0.0/16", .val = -ENOSPC },
	{ PS_DEL, .a = "10.1.0.0/16", .val = 1 },
	{ PS_REFS, .val = 0 },
	{ PS_ADD, .a = "10.4.0.0/16", .val = 1 },
	{ PS_COUNT, .val = 4 },
	{ PS_END }
};

/* An expired prefix is a miss at once; the reclaimer raises events. */
static const struct pst_step pst_expiry[] = {
	{ PS_CLOCK, .val = 1000 },
	{ PS_ADD, .a = "10.0.0.0/8", .val = 1 },
	{ PS_ADD, .a = "10.1.0.0/16", .ttl = 10, .port = 25, .val = 1 },
	{ PS_ADD, .a = "10.1.2.0/24", .ttl = 5, .val = 1 },
	{ PS_INFO, .a = "10.1.0.1", .port = 25, .ttl = 10 },
	{ PS_LOOKUP, .a = "10.1.2.1", .val = 120 },
	{ PS_HIT, .a = "10.1.2.1" },
	{ PS_HITS, .a = "10.1.2.1", .val = 1 },
	{ PS_CLOCK, .val = 1005 },
	{ PS_LOOKUP, .a = "10.1.2.1", .val = 112 },		/* falls back */
	{ PS_INFO, .a = "10.1.2.1", .port = 25, .ttl = 5 },
	{ PS_CLOCK, .val = 1009 },
	{ PS_LOOKUP, .a = "10.1.0.1", .val = 112 },
	{ PS_CLOCK, .val = 1010 },
	{ PS_LOOKUP, .a = "10.1.0.1", .val = 104 },
	{ PS_COUNT, .val = 3 },					/* not reclaimed yet */
	{ PS_GC, .val = 2 },
	{ PS_EVENTS, .val = 2 },
	{ PS_REFS, .val = 0 },
	{ PS_COUNT, .val = 1 },
	{ PS_LENS, .val = 1 },
	{ PS_GC, .val = 0 },
	/* DEL of an expired entry removes it but counts no removal. */
	{ PS_ADD, .a = "10.2.0.0/16", .ttl = 5, .val = 1 },
	{ PS_CLOCK, .val = 1015 },
	{ PS_DEL, .a = "10.2.0.0/16", .val = 0 },
	{ PS_COUNT, .val = 1 },
	/* ADD over an expired entry creates it anew, hits reset. */
	{ PS_ADD, .a = "10.3.0.0/16", .ttl = 5, .val = 1 },
	{ PS_HIT, .a = "10.3.0.1" },
	{ PS_CLOCK, .val = 1020 },
	{ PS_ADD, .a = "10.3.0.0/16", .val = 1 },
	{ PS_HITS, .a = "10.3.0.1", .val = 0 },
	{ PS_ADD, .a = "10.3.0.0/16", .val = 0 },
	{ PS_EVENTS, .val = 2 },
	{ PS_END }
};

/* FLUSH by flags, then everything (the swap path); port sets balanced. */
static const struct pst_step pst_flush[] = {
	{ PS_ADD, .a = "10.0.0.0/8", .flags = P, .port = 25, .val = 1 },
	{ PS_ADD, .a = "10.1.0.0/16", .flags = M, .val = 1 },
	{ PS_ADD, .a = "10.2.0.0/16", .flags = P | M, .port = 587, .val = 1 },
	{ PS_ADD, .a = "10.3.0.0/16", .port = 465, .val = 1 },
	{ PS_ADD, .a = "2001:db8::/32", .val = 1 },
	{ PS_REFS, .val = 3 },
	{ PS_FLUSH, .flags = P, .val = 2 },
	{ PS_REFS, .val = 1 },
	{ PS_LOOKUP, .a = "10.0.0.1", .val = -1 },
	{ PS_LOOKUP, .a = "10.2.0.1", .val = -1 },
	{ PS_LOOKUP, .a = "10.1.0.1", .val = 112 },
	{ PS_FLUSH, .flags = P | M, .val = 0 },
	{ PS_FLUSH, .flags = M, .val = 1 },
	{ PS_COUNT, .val = 2 },
	{ PS_LENS, .val = 2 },
	{ PS_FLUSH, .val = 2 },
	{ PS_COUNT, .val = 0 },
	{ PS_LENS, .val = 0 },
	{ PS_REFS, .val = 0 },
	{ PS_LOOKUP, .a = "10.3.0.1", .val = -1 },
	{ PS_PROBES, .val = 0 },
	{ PS_FLUSH, .val = 0 },
	{ PS_ADD, .a = "10.3.0.0/16", .port = 465, .val = 1 },
	{ PS_LOOKUP, .a = "10.3.0.1", .val = 112 },
	{ PS_REFS, .val = 1 },
	{ PS_FLUSH, .val = 1 },
	{ PS_REFS, .val = 0 },
	{ PS_END }
};

/*
 * The IPv4 summary: a miss in a /24 (/16) without an entry of the /24../32
 * (/16../23) group probes none of the group; deleted entries leave stale
 * bits (more probes, never a wrong answer) until the rebuild; a full flush
 * drops the summary; IPv6 addresses probe every length.
 */
static const struct pst_step pst_summary[] = {
	{ PS_SUM, .val = 0 },
	{ PS_ADD, .a = "10.0.0.0/8", .val = 1 },
	{ PS_SUM, .val = 0 },				/* /8: not covered */
	{ PS_ADD, .a = "10.1.2.32/27", .val = 1 },
	{ PS_SUM, .val = 1 },
	{ PS_ADD, .a = "10.1.3.0/24", .val = 1 },
	{ PS_ADD, .a = "10.5.0.0/16", .val = 1 },
	{ PS_ADD, .a = "10.6.0.0/20", .val = 1 },
	{ PS_LENS, .val = 5 },
	{ PS_REBUILDS, .val = 1 },
	{ PS_LOOKUP, .a = "11.9.9.9", .val = -1 },
	{ PS_PROBES, .val = 1 },			/* only the /8 */
	{ PS_LOOKUP, .a = "10.9.9.9", .val = 104 },
	{ PS_PROBES, .val = 1 },
	{ PS_LOOKUP, .a = "11.1.2.33", .val = -1 },	/* same bits, other /8 */
	{ PS_PROBES, .val = 1 },
	/* The /24 holding the /27 pays its probes: /27 and /24, then /8. */
	{ PS_LOOKUP, .a = "10.1.2.1", .val = 104 },
	{ PS_PROBES, .val = 3 },
	{ PS_LOOKUP, .a = "10.1.2.33", .val = 123 },
	{ PS_PROBES, .val = 1 },
	{ PS_LOOKUP, .a = "10.1.3.7", .val = 120 },
	{ PS_PROBES, .val = 2 },
	/* The /16 group: 10.5/16 and 10.6/16 hold entries, 10.7/16 none. */
	{ PS_LOOKUP, .a = "10.5.1.1", .val = 112 },
	{ PS_PROBES, .val = 2 },			/* /20, /16 */
	{ PS_LOOKUP, .a = "10.6.15.1", .val = 116 },
	{ PS_PROBES, .val = 1 },
	{ PS_LOOKUP, .a = "10.6.16.1", .val = 104 },
	{ PS_PROBES, .val = 3 },
	{ PS_LOOKUP, .a = "10.7.0.1", .val = 104 },
	{ PS_PROBES, .val = 1 },
	{ PS_COVERS, .a = "10.6.0.0/22", .val = 1 },
	{ PS_COVERS, .a = "10.6.0.0/19", .val = 1 },	/* by the /8 */
	/* Deleted: the stale bits cost probes, the answers stay right. */
	{ PS_DEL, .a = "10.1.2.32/27", .val = 1 },
	{ PS_DEL, .a = "10.5.0.0/16", .val = 1 },
	{ PS_LOOKUP, .a = "10.1.2.33", .val = 104 },
	{ PS_PROBES, .val = 2 },			/* /24 (stale), /8 */
	{ PS_LOOKUP, .a = "10.5.1.1", .val = 104 },
	{ PS_PROBES, .val = 2 },			/* /20 (stale), /8 */
	/* No false negative: back in a stale /24, or a new one in it. */
	{ PS_ADD, .a = "10.1.2.32/27", .val = 1 },
	{ PS_LOOKUP, .a = "10.1.2.33", .val = 123 },
	{ PS_ADD, .a = "10.5.0.0/16", .val = 1 },
	{ PS_LOOKUP, .a = "10.5.1.1", .val = 112 },
	{ PS_DEL, .a = "10.1.2.32/27", .val = 1 },
	{ PS_ADD, .a = "10.1.2.128/25", .val = 1 },
	{ PS_LOOKUP, .a = "10.1.2.129", .val = 121 },
	{ PS_DEL, .a = "10.1.2.128/25", .val = 1 },
	{ PS_DEL, .a = "10.5.0.0/16", .val = 1 },
	{ PS_REBUILDS, .val = 1 },
	/* Past max(entries, 4096) stale removals the summary is rebuilt. */
	{ PS_CHURN, .val = 4100 },
	{ PS_REBUILDS, .val = 2 },
	{ PS_LOOKUP, .a = "10.1.2.33", .val = 104 },
	{ PS_PROBES, .val = 1 },			/* the /8 alone again */
	{ PS_LOOKUP, .a = "10.5.1.1", .val = 104 },
	{ PS_PROBES, .val = 1 },
	{ PS_LOOKUP, .a = "10.1.3.7", .val = 120 },	/* kept */
	{ PS_LOOKUP, .a = "10.6.15.1", .val = 116 },
	{ PS_LOOKUP, .a = "172.16.0.1", .val = -1 },
	/* IPv6: every length in use is probed, the summary is not read. */
	{ PS_ADD, .a = "2001:db8::100/120", .val = 1 },
	{ PS_LOOKUP, .a = "2001:db8::105", .val = 120 },
	{ PS_LOOKUP, .a = "2001:db8::5", .val = -1 },
	{ PS_PROBES, .val = 3 },			/* 120, 116, 104 */
	{ PS_LOOKUP, .a = "10.9.9.9", .val = 104 },
	{ PS_PROBES, .val = 1 },
	/* A full flush drops the summary; the next entry makes a new one. */
	{ PS_FLUSH, .val = 4 },
	{ PS_SUM, .val = 0 },
	{ PS_LOOKUP, .a = "10.1.3.7", .val = -1 },
	{ PS_ADD, .a = "10.1.3.0/24", .val = 1 },
	{ PS_SUM, .val = 1 },
	{ PS_REBUILDS, .val = 3 },
	{ PS_LOOKUP, .a = "10.1.3.7", .val = 120 },
	{ PS_LOOKUP, .a = "10.1.4.7", .val = -1 },
	{ PS_PROBES, .val = 0 },
	/* Emptied one by one, then flushed: the stale summary goes too. */
	{ PS_DEL, .a = "10.1.3.0/24", .val = 1 },
	{ PS_SUM, .val = 1 },
	{ PS_FLUSH, .val = 0 },
	{ PS_SUM, .val = 0 },
	{ PS_END }
};

/*
 * Without memory for a summary: the set works without one (every length
 * in use probed), tries again only after as many inserts as a rebuild
 * tolerates stale bits, and a failed rebuild keeps the old summary (its
 * bits are a superset).
 */
static const struct pst_step pst_summary_nomem[] = {
	{ PS_SUM_FAIL, .val = 1 },
	{ PS_ADD, .a = "10.1.2.0/24", .val = 1 },
	{ PS_SUM, .val = 0 },
	{ PS_REBUILDS, .val = 0 },
	{ PS_LOOKUP, .a = "10.1.2.7", .val = 120 },
	{ PS_LOOKUP, .a = "10.1.3.7", .val = -1 },
	{ PS_PROBES, .val = 1 },			/* no summary to rule out */
	{ PS_ADD, .a = "10.1.4.0/24", .val = 1 },
	{ PS_SUM, .val = 0 },				/* not retried yet */
	{ PS_LOOKUP, .a = "10.1.4.9", .val = 120 },
	/* The 4096th insert retries, and the build succeeds. */
	{ PS_CHURN, .val = 4100 },
	{ PS_SUM, .val = 1 },
	{ PS_REBUILDS, .val = 1 },
	{ PS_LOOKUP, .a = "10.1.3.7", .val = -1 },
	{ PS_PROBES, .val = 0 },
	{ PS_LOOKUP, .a = "10.1.2.7", .val = 120 },
	{ PS_LOOKUP, .a = "10.1.4.9", .val = 120 },
	/* A rebuild after stale removals fails: the old summary stays. */
	{ PS_SUM_FAIL, .val = 1 },
	{ PS_CHURN, .val = 4200 },
	{ PS_SUM, .val = 1 },
	{ PS_REBUILDS, .val = 1 },
	{ PS_LOOKUP, .a = "10.1.2.7", .val = 120 },
	{ PS_LOOKUP, .a = "10.1.3.7", .val = -1 },
	{ PS_PROBES, .val = 0 },
	{ PS_LOOKUP, .a = "172.16.0.1", .val = -1 },
	{ PS_PROBES, .val = 1 },			/* a stale bit */
	/* The next rebuild has memory again. */
	{ PS_CHURN, .val = 4200 },
	{ PS_REBUILDS, .val = 2 },
	{ PS_LOOKUP, .a = "172.16.0.1", .val = -1 },
	{ PS_PROBES, .val = 0 },
	{ PS_FLUSH, .val = 2 },
	{ PS_SUM, .val = 0 },
	{ PS_END }
};

/* The allowlist's exact IPv4 addresses (/32, key length 128). */
static const struct pst_step pst_allow_summary[] = {
	{ PS_ADD, .a = "10.9.9.9", .val = 1 },
	{ PS_SUM, .val = 1 },
	{ PS_LOOKUP, .a = "10.9.9.9", .val = 128 },
	{ PS_PROBES, .val = 1 },
	{ PS_LOOKUP, .a = "10.9.9.8", .val = -1 },
	{ PS_PROBES, .val = 1 },			/* same /24 */
	{ PS_LOOKUP, .a = "10.9.8.9", .val = -1 },
	{ PS_PROBES, .val = 0 },
	{ PS_ADD, .a = "10.0.0.0/8", .val = 1 },
	{ PS_LOOKUP, .a = "10.9.8.9", .val = 104 },
	{ PS_PROBES, .val = 1 },
	{ PS_COVERS, .a = "10.9.9.9", .val = 1 },
	{ PS_ADD, .a = "2001:db8::1", .val = 1 },
	{ PS_LOOKUP, .a = "2001:db8::1", .val = 128 },
	{ PS_LOOKUP, .a = "2001:db8::2", .val = -1 },
	{ PS_PROBES, .val = 2 },
	{ PS_DEL, .a = "10.9.9.9", .val = 1 },
	{ PS_LOOKUP, .a = "10.9.9.9", .val = 104 },
	{ PS_PROBES, .val = 2 },			/* stale /24 bit */
	{ PS_END }
};

static const struct pst_case pst_cases[] = {
	{ "lpm", FFWALL_MATCH_PREFIX, 64, pst_lpm },
	{ "ban-edges", FFWALL_MATCH_PREFIX, 64, pst_ban_edges },
	{ "allow-edges", FFWALL_MATCH_ALLOW, 64, pst_allow_edges },
	{ "allow-cover", FFWALL_MATCH_ALLOW, 64, pst_allow_cover },
	{ "enospc", FFWALL_MATCH_PREFIX, 4, pst_enospc },
	{ "expiry", FFWALL_MATCH_PREFIX, 64, pst_expiry },
	{ "flush", FFWALL_MATCH_PREFIX, 64, pst_flush },
	{ "summary", FFWALL_MATCH_PREFIX, 64, pst_summary },
	{ "summary-nomem", FFWALL_MATCH_PREFIX, 64, pst_summary_nomem },
	{ "allow-summary", FFWALL_MATCH_ALLOW, 64, pst_allow_summary },
};

/* Add and delete @n IPv4 /24s from 172.16.0.0 on, one at a time. */
static int pst_churn(struct ffwall_pset *s, u32 n, u32 now)
{
	struct ffwall_pfx_add a = {};
	u32 i, applied, changed;

	a.len = 120;
	for (i = 0; i < n; i++) {
		ffwall_key_set_v4(&a.key, (172U << 24 | 16U << 16) + (i << 8));
		if (ffwall_pset_add(s, &a, 1, now, &applied, &changed) || changed != 1)
			return -EINVAL;
		ffwall_pset_del(s, &a, 1, now, &changed);
		if (changed != 1)
			return -EINVAL;
	}
	return 0;
}

static int pst_step(struct ffwall_pset *s, struct pst_owner *o,
		    const struct pst_step *st, u32 *now, unsigned long *probes)
{
	struct ffwall_entry_info info;
	struct ffwall_pset_stats stats;
	struct ffwall_pfx_add a = {};
	struct ffwall_key key = {};
	struct ffwall_pfx *e;
	u32 applied, changed;
	long got = 0;
	int err;
	u8 len = 0;

	if (st->a && pst_key(st->a, &key, &len))
		return -EINVAL;
	switch (st->op) {
	case PS_CLOCK:
		*now = st->val;
		return 0;
	case PS_ADD:
	case PS_ADD_ERR:
		a.key = key;
		a.len = len;
		a.flags = st->flags;
		a.ttl = st->ttl;
		a.nports = st->port ? 1 : 0;
		a.ports[0] = st->port;
		err = ffwall_pset_add(s, &a, 1, *now, &applied, &changed);
		if (st->op == PS_ADD_ERR)
			got = err;
		else
			got = err ? err : changed;
		if (applied != !err)
			return -EINVAL;
		break;
	case PS_DEL:
		a.key = key;
		a.len = len;
		ffwall_pset_del(s, &a, 1, *now, &changed);
		got = changed;
		break;
	case PS_LOOKUP:
	case PS_HIT:
	case PS_HITS:
	case PS_INFO:
		rcu_read_lock();
		s->probes = 0;
		e = ffwall_pset_lookup_rcu(s, &key, *now);
		*probes = s->probes;
		got = e ? e->len : -1;
		if (e && st->op == PS_HIT)
			ffwall_pfx_hit(e, *now);
		if (e && st->op == PS_HITS)
			got = READ_ONCE(e->hits);
		rcu_read_unlock();
		if (!e && st->op != PS_LOOKUP)
			return -ENOENT;
		if (st->op == PS_HIT)
			return 0;
		if (st->op == PS_INFO) {
			if (!ffwall_pset_lookup_info(s, &key, *now, &info) ||
			    info.kind != s->kind || info.rule.ports[0] != st->port ||
			    info.rule.nports != !!st->port || info.rule.ttl != st->ttl ||
			    info.expires != (st->ttl ? *now + st->ttl : 0))
				return -EINVAL;
			return 0;
		}
		break;
	case PS_PROBES:
		got = *probes;
		break;
	case PS_COVERS:
		got = ffwall_pset_covers(s, &key, len, *now);
		break;
	case PS_GC:
		got = ffwall_pset_gc(s, *now);
		break;
	case PS_FLUSH:
		got = ffwall_pset_flush(s, st->flags);
		break;
	case PS_COUNT:
	case PS_LENS:
		ffwall_pset_get_stats(s, &stats);
		got = st->op == PS_COUNT ? stats.entries : stats.lengths;
		break;
	case PS_REFS:
		got = o->refs;
		break;
	case PS_EVENTS:
		got = o->events;
		break;
	case PS_CHURN:
		if (pst_churn(s, st->val, *now))
			return -EINVAL;
		return 0;
	case PS_SUM:
		ffwall_pset_get_stats(s, &stats);
		got = !!rcu_access_pointer(s->sum);
		if (got && stats.bytes < sizeof(struct ffwall_pfx_sum))
			return -EINVAL;
		break;
	case PS_REBUILDS:
		got = s->sum_rebuilds;
		break;
	case PS_SUM_FAIL:
		s->sum_fail = st->val;
		return 0;
	}
	if (got != st->val) {
		pr_err("prefix selftest: %s: got %ld, want %d\n",
		       st->a ? st->a : "-", got, st->val);
		return -EINVAL;
	}
	return 0;
}

static int pst_run_case(const struct pst_case *c)
{
	struct pst_owner o = {};
	unsigned long probes = 0;
	struct ffwall_pset *s;
	unsigned int i;
	u32 now = 1;
	int err = 0;

	s = ffwall_pset_create(c->kind, c->max, NULL, &pst_ops, &o);
	if (!s)
		return -ENOMEM;
	for (i = 0; c->steps[i].op != PS_END; i++) {
		err = pst_step(s, &o, &c->steps[i], &now, &probes);
		if (err) {
			pr_err("prefix selftest %s: step %u (op %u) failed (%d)\n",
			       c->name, i, c->steps[i].op, err);
			break;
		}
	}
	ffwall_pset_destroy(s);
	return err;
}

/* ------------------------------------------------------------------------ */
/* DUMP over a set that changes between calls. */

#define PST_DUMP_STABLE		200	/* present for the whole walk */
#define PST_DUMP_GONE		100	/* deleted during the walk */
#define PST_DUMP_NEW		100	/* added during the walk */
#define PST_DUMP_N		(PST_DUMP_STABLE + PST_DUMP_GONE + PST_DUMP_NEW)

/* Entry i is 10.(i / 256).(i % 256).0/24, or 2001:db8:i::/48 when odd. */
static void pst_dump_key(unsigned int i, struct ffwall_pfx_add *a)
{
	u8 *b = (u8 *)&a->key;

	memset(a, 0, sizeof(*a));
	if (i & 1) {
		b[0] = 0x20;
		b[1] = 0x01;
		b[2] = 0x0d;
		b[3] = 0xb8;
		b[4] = i >> 8;
		b[5] = i;
		a->len = 48;
	} else {
		b[10] = 0xff;
		b[11] = 0xff;
		b[12] = 10;
		b[13] = i >> 8;
		b[14] = i;
		a->len = 120;
	}
}

static int pst_dump_index(const struct ffwall_entry_info *r)
{
	const u8 *b = r->rule.addr;

	if (r->rule.prefix_len == 48 && b[0] == 0x20)
		return b[4] << 8 | b[5];
	if (r->rule.prefix_len == 120 && b[12] == 10)
		return b[13] << 8 | b[14];
	return -1;
}

static int pst_dump(void)
{
	struct ffwall_entry_info *out;
	struct pst_owner o = {};
	struct ffwall_pfx_add a;
	struct ffwall_pset *s;
	u32 applied, changed, n, i, calls = 0, total = 0, gone = 0, added = 0;
	u8 *seen = NULL;
	u64 cursor = 0;
	int idx, err = -EINVAL;

	s = ffwall_pset_create(FFWALL_MATCH_PREFIX, 512, NULL, &pst_ops, &o);
	out = kcalloc(FFWALL_DUMP_MIN, sizeof(*out), GFP_KERNEL);
	seen = kzalloc(PST_DUMP_N, GFP_KERNEL);
	if (!s || !out || !seen) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < PST_DUMP_STABLE + PST_DUMP_GONE; i++) {
		pst_dump_key(i, &a);
		if (ffwall_pset_add(s, &a, 1, 10, &applied, &changed))
			goto fail;
	}
	/* Dump eight at a time; between calls delete one and add one. */
	do {
		n = ffwall_pset_dump(s, out, FFWALL_DUMP_MIN, &cursor, 0, 10);
		calls++;
		for (i = 0; i < n; i++) {
			idx = pst_dump_index(&out[i]);
			if (idx < 0 || idx >= PST_DUMP_N || seen[idx]++ ||
			    out[i].kind != FFWALL_MATCH_PREFIX)
				goto fail;
			total++;
		}
		if (gone < PST_DUMP_GONE) {
			pst_dump_key(PST_DUMP_STABLE + gone++, &a);
			ffwall_pset_del(s, &a, 1, 10, &changed);
		}
		if (added < PST_DUMP_NEW) {
			pst_dump_key(PST_DUMP_STABLE + PST_DUMP_GONE + added++, &a);
			if (ffwall_pset_add(s, &a, 1, 10, &applied, &changed))
				goto fail;
		}
		if (calls > PST_DUMP_N)
			goto fail;
	} while (cursor != FFWALL_PSET_DUMP_END);
	for (i = 0; i < PST_DUMP_STABLE; i++)
		if (seen[i] != 1)
			goto fail;
	if (total < PST_DUMP_STABLE || total > PST_DUMP_N)
		goto fail;

	/* hit_since: only the entries hit at or after the time given. */
	pst_dump_key(2, &a);
	rcu_read_lock();
	ffwall_pfx_hit(ffwall_pset_lookup_rcu(s, &a.key, 50), 50);
	pst_dump_key(3, &a);
	ffwall_pfx_hit(ffwall_pset_lookup_rcu(s, &a.key, 60), 60);
	rcu_read_unlock();
	cursor = 0;
	total = 0;
	memset(seen, 0, PST_DUMP_N);
	do {
		n = ffwall_pset_dump(s, out, FFWALL_DUMP_MIN, &cursor, 55, 60);
		for (i = 0; i < n; i++)
			if (pst_dump_index(&out[i]) != 3 || out[i].last_hit != 60)
				goto fail;
		total += n;
	} while (cursor != FFWALL_PSET_DUMP_END);
	if (total != 1)
		goto fail;
	/* A finished cursor stays finished. */
	if (ffwall_pset_dump(s, out, FFWALL_DUMP_MIN, &cursor, 0, 60) ||
	    cursor != FFWALL_PSET_DUMP_END)
		goto fail;
	err = 0;
	goto out;
fail:
	pr_err("prefix selftest dump: failed after %u calls, %u records\n", calls, total);
out:
	kfree(seen);
	kfree(out);
	ffwall_pset_destroy(s);
	return err;
}

/* ------------------------------------------------------------------------ */
/* Random prefixes against a brute-force reference, with an external lock. */

#define PST_RAND_N	160
#define PST_RAND_Q	3000

static DEFINE_MUTEX(pst_ext_lock);

static u32 pst_xorshift(u32 *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* A random address of a small universe: nesting and misses are frequent. */
static void pst_rand_addr(u32 *x, struct ffwall_key *k, bool *v6)
{
	u8 *b = (u8 *)k;
	u32 r = pst_xorshift(x);

	memset(k, 0, sizeof(*k));
	*v6 = r & 1;
	r = pst_xorshift(x);
	if (*v6) {
		b[0] = 0x20;
		b[1] = 0x01;
		b[2] = 0x0d;
		b[3] = 0xb8;
		b[4] = r & 3;
		b[5] = r >> 8;
		b[15] = r >> 16;
	} else {
		b[10] = 0xff;
		b[11] = 0xff;
		b[12] = 10;
		b[13] = r & 3;
		b[14] = r >> 8;
		b[15] = r >> 16;
	}
}

/* The longest entry of @set[0..n) of length <= @max_len covering @k. */
static int pst_brute(const struct ffwall_pfx_add *set, u32 n, const bool *live,
		     const struct ffwall_key *k, unsigned int max_len)
{
	struct ffwall_key m;
	int best = -1;
	u32 i;

	for (i = 0; i < n; i++) {
		if (!live[i] || set[i].len > max_len || (int)set[i].len <= best)
			continue;
		ffwall_key_mask(k, set[i].len, &m);
		if (pfx_key_eq(&m, &set[i].key))
			best = set[i].len;
	}
	return best;
}

static int pst_random(void)
{
	struct ffwall_pfx_add *set;
	struct ffwall_pset *s;
	struct ffwall_pfx *e;
	struct ffwall_key k;
	u32 x = 0x2545f491, i = 0, n = 0, applied, changed;
	unsigned int len;
	bool *live, v6, removed;
	int want, got, round = -1, err = -EINVAL;

	set = kcalloc(PST_RAND_N, sizeof(*set), GFP_KERNEL);
	live = kcalloc(PST_RAND_N, sizeof(*live), GFP_KERNEL);
	s = ffwall_pset_create(FFWALL_MATCH_PREFIX, PST_RAND_N, &pst_ext_lock,
			       &pst_ops, NULL);
	if (!set || !live || !s) {
		err = -ENOMEM;
		goto out;
	}
	while (n < PST_RAND_N) {
		pst_rand_addr(&x, &k, &v6);
		len = v6 ? 32 + pst_xorshift(&x) % 96 : 104 + pst_xorshift(&x) % 24;
		if (!(pst_xorshift(&x) % 16))
			len = v6 ? pst_xorshift(&x) % 32 : 96 + pst_xorshift(&x) % 8;
		ffwall_key_mask(&k, len, &set[n].key);
		set[n].len = len;
		if (ffwall_pset_add(s, &set[n], 1, 1, &applied, &changed) || !applied)
			goto fail;
		if (changed)
			live[n++] = true;
	}
	for (round = 0; round < 2; round++) {
		for (i = 0; i < PST_RAND_Q; i++) {
			pst_rand_addr(&x, &k, &v6);
			len = pst_xorshift(&x) % 129;
			want = pst_brute(set, n, live, &k, 127);
			rcu_read_lock();
			e = ffwall_pset_lookup_rcu(s, &k, 1);
			got = e ? e->len : -1;
			rcu_read_unlock();
			if (got != want)
				goto fail;
			/* covers(k/len): an entry of length <= len contains k. */
			ffwall_key_mask(&k, len, &k);
			want = pst_brute(set, n, live, &k, len) >= 0;
			if (ffwall_pset_covers(s, &k, len, 1) != want)
				goto fail;
		}
		if (round)
			break;
		/* Second round: half of the entries deleted, by hand. */
		mutex_lock(&pst_ext_lock);
		for (i = 0; i < n; i += 2) {
			ffwall_pset_del_locked(s, &set[i].key, set[i].len, 1, &removed);
			if (!removed)
				goto fail_locked;
			live[i] = false;
		}
		ffwall_pset_commit_locked(s);
		mutex_unlock(&pst_ext_lock);
	}
	err = 0;
	goto out;
fail_locked:
	ffwall_pset_commit_locked(s);
	mutex_unlock(&pst_ext_lock);
fail:
	pr_err("prefix selftest random: mismatch (round %d, query %u, %u entries)\n",
	       round, i, n);
out:
	ffwall_pset_destroy(s);
	kfree(live);
	kfree(set);
	return err;
}

int ffwall_prefix_selftest(void)
{
	unsigned int i;
	int err;

	err = pst_records();
	if (err)
		return err;
	for (i = 0; i < ARRAY_SIZE(pst_cases); i++) {
		err = pst_run_case(&pst_cases[i]);
		if (err)
			return err;
	}
	err = pst_dump();
	if (err)
		return err;
	err = pst_random();
	if (err)
		return err;
	pr_debug("prefix selftests passed (%zu record cases, %zu set cases, dump, random)\n",
		 ARRAY_SIZE(pst_recs), ARRAY_SIZE(pst_cases));
	return 0;
}

#undef P
#undef M
