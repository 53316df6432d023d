// SPDX-License-Identifier: MIT
/*
 * ffwall-filter: build, upload and check ffwall's membership filter
 * (FFWALL_FILTER_BLOCKED_BLOOM, see kmod/uapi/ffwall.h and
 * kmod/DESIGN-filter.md).  It has its own SipHash-2-4, so that the kernel's
 * hashing is checked against an independent implementation.
 *
 *   ffwall-filter load [-p FPR] [-n CAPACITY] [-b BYTES] [-k K] [-s SEED]
 *                      [-o FILE] [-N] [-d DEV]
 *       Read addresses from stdin (one per line, IPv4 or IPv6; '#' starts a
 *       comment), size the filter for max(count, CAPACITY) members at FPR
 *       (default 0.01), build it and upload it with FILTER_LOAD.  -b and -k
 *       force the size and the hash count; -s SEED is "HEX:HEX" (seed[0]:
 *       seed[1], as 64-bit numbers), random by default; -o FILE writes the
 *       bit array; -N builds without uploading.
 *   ffwall-filter add [-d DEV]
 *       FILTER_ADD the addresses of stdin.
 *   ffwall-filter plan -m MEMBERS [-p FPR]
 *       The size and hash count the builder picks, and the predicted FPR.
 *   ffwall-filter fpr [-m MEMBERS] [-q QUERIES] [-p FPR | -b BYTES -k K]
 *                     [-s SEED] [-i FILE]
 *       Measure the false-positive rate: MEMBERS members and QUERIES
 *       non-members from the deterministic generator shared with the
 *       kernel's selftest.  With -i FILE, probe that bit array (for example
 *       the kernel's, read back from debugfs) instead of building one; -b is
 *       then the file's size and -s, -k must be the ones it was built with.
 *   ffwall-filter gen [-m COUNT] [-x]
 *       Print the generator's members (with -x: its non-members), one per
 *       line.
 *   ffwall-filter version [-d DEV]
 *       Print the module's ABI version and feature bits (hex).
 *   ffwall-filter selftest
 *       SipHash-2-4 reference vectors and the known-answer vectors that
 *       kmod/selftest/filter.c checks in the kernel.  Exit status 0 on
 *       success.
 *   ffwall-filter kat
 *       Print the known-answer vectors as C initialisers (to regenerate the
 *       kernel selftest's table).
 *   ffwall-filter try-load [FIELD=VALUE]...  /  try-add [FIELD=VALUE]...
 *       Issue one raw FILTER_LOAD / FILTER_ADD with the given fields (ABI
 *       tests) and print "OK" or the errno name (exit 0 either way; 2 on a
 *       usage error).  Fields of try-load: size, alg, k, flags, r0 (reserved0),
 *       r1, r2 (reserved[0..1]), members, seed (HEX:HEX), fill (byte value),
 *       data=bad (an unmapped data pointer), arg=bad (an unmapped argument).
 *       Fields of try-add: count, flags, reserved, addrs=bad, arg=bad, and
 *       addr=ADDRESS (repeatable; count defaults to the number given).
 *
 * Exit status: 0 success, 1 an ioctl or a check failed, 2 usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "selftest/filter_kat.h"
#include "uapi/ffwall.h"

#define BLOCK_BITS	(FFWALL_FILTER_BLOCK_BYTES * 8)
/* The kernel's cap (kmod/filter.h FFWALL_FILTER_MAX_BYTES); GET_CONFIG has it. */
#define DEFAULT_MAX_BYTES	(32ULL << 20)

static const char *dev_path = "/dev/" FFWALL_DEVICE_NAME;

/* ---- SipHash-2-4 (Aumasson and Bernstein), written for this tool --------- */

static uint64_t rotl64(uint64_t x, unsigned int r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

struct sip {
	uint64_t v0, v1, v2, v3;
};

static void sip_round(struct sip *s)
{
	s->v0 += s->v1;
	s->v1 = rotl64(s->v1, 13) ^ s->v0;
	s->v0 = rotl64(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = rotl64(s->v3, 16) ^ s->v2;
	s->v0 += s->v3;
	s->v3 = rotl64(s->v3, 21) ^ s->v0;
	s->v2 += s->v1;
	s->v1 = rotl64(s->v1, 17) ^ s->v2;
	s->v2 = rotl64(s->v2, 32);
}

static void sip_absorb(struct sip *s, uint64_t m)
{
	s->v3 ^= m;
	sip_round(s);
	sip_round(s);
	s->v0 ^= m;
}

/* k0, k1: the key as two numbers, k0 = its first 8 bytes read little-endian. */
static uint64_t siphash24(uint64_t k0, uint64_t k1, const uint8_t *msg, size_t len)
{
	struct sip s = {
		.v0 = k0 ^ 0x736f6d6570736575ULL,
		.v1 = k1 ^ 0x646f72616e646f6dULL,
		.v2 = k0 ^ 0x6c7967656e657261ULL,
		.v3 = k1 ^ 0x7465646279746573ULL,
	};
	uint64_t last = (uint64_t)len << 56;
	size_t off;

	for (off = 0; off + 8 <= len; off += 8)
		sip_absorb(&s, load_le64(msg + off));
	for (size_t i = 0; off + i < len; i++)
		last |= (uint64_t)msg[off + i] << (8 * i);
	sip_absorb(&s, last);
	s.v2 ^= 0xff;
	for (int i = 0; i < 4; i++)
		sip_round(&s);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

/* ---- The filter ---------------------------------------------------------- */

struct filter {
	uint8_t *bits;
	uint64_t size;		/* bytes */
	uint32_t nblocks;
	uint32_t k;
	uint64_t seed[2];
};

struct where {
	uint64_t hash;
	uint32_t block;
	uint16_t bit[16];	/* bit numbers inside the block */
};

/* Where a member's bits go, exactly as the header's text says it. */
static void locate(const struct filter *f, const uint8_t addr[16], struct where *w)
{
	uint64_t h = siphash24(f->seed[0], f->seed[1], addr, 16);
	uint32_t a = (uint32_t)h;
	uint32_t b = (uint32_t)(h >> 32) | 1;

	w->hash = h;
	w->block = (uint32_t)(((h >> 32) * (uint64_t)f->nblocks) >> 32);
	for (uint32_t i = 0; i < f->k; i++)
		w->bit[i] = (uint16_t)((a + i * b) % BLOCK_BITS);
}

static void filter_add(struct filter *f, const uint8_t addr[16])
{
	struct where w;
	uint8_t *blk;

	locate(f, addr, &w);
	blk = f->bits + (size_t)w.block * FFWALL_FILTER_BLOCK_BYTES;
	for (uint32_t i = 0; i < f->k; i++)
		blk[w.bit[i] / 8] |= (uint8_t)(1u << (w.bit[i] % 8));
}

static int filter_probe(const struct filter *f, const uint8_t addr[16])
{
	struct where w;
	const uint8_t *blk;

	locate(f, addr, &w);
	blk = f->bits + (size_t)w.block * FFWALL_FILTER_BLOCK_BYTES;
	for (uint32_t i = 0; i < f->k; i++)
		if (!(blk[w.bit[i] / 8] & (1u << (w.bit[i] % 8))))
			return 0;
	return 1;
}

static int filter_alloc(struct filter *f, uint64_t size, uint32_t k, const uint64_t seed[2])
{
	f->size = size;
	f->nblocks = (uint32_t)(size / FFWALL_FILTER_BLOCK_BYTES);
	f->k = k;
	f->seed[0] = seed[0];
	f->seed[1] = seed[1];
	f->bits = calloc(1, size);
	if (!f->bits) {
		fprintf(stderr, "ffwall-filter: out of memory for %" PRIu64 " bytes\n", size);
		return -1;
	}
	return 0;
}

/*
 * Small numeric helpers: build-tools.sh does not link libm, and these need
 * no more precision than a few significant digits.
 */
static double ipow(double x, unsigned int n)
{
	double r = 1.0;

	while (n) {
		if (n & 1)
			r *= x;
		x *= x;
		n >>= 1;
	}
	return r;
}

/* e^x for x <= 0: halve until tiny, Taylor series, square back. */
static double nexp(double x)
{
	unsigned int halvings = 0;
	double t = 1.0, sum = 1.0;

	while (x < -0.01) {
		x /= 2;
		halvings++;
	}
	for (unsigned int i = 1; i < 12; i++) {
		t *= x / i;
		sum += t;
	}
	while (halvings--)
		sum *= sum;
	return sum;
}

static double nsqrt(double x)
{
	double r = x > 1 ? x : 1;

	if (x <= 0)
		return 0;
	for (int i = 0; i < 100; i++)
		r = (r + x / r) / 2;
	return r;
}

static double nabs(double x)
{
	return x < 0 ? -x : x;
}

/* E[(1 - q^J)^u] for J ~ Poisson(lambda): u given bits all set by J members. */
static double covered(double lambda, double q, unsigned int u)
{
	double p = nexp(-lambda), qj = 1.0, sum = 0.0, acc = 0.0;
	unsigned int hi = (unsigned int)(lambda + 12.0 * nsqrt(lambda + 1.0) + 30.0);

	for (unsigned int j = 0; j <= hi; j++) {
		if (j > 0) {
			p *= lambda / j;
			qj *= q;
		}
		acc += p;
		sum += p * ipow(1.0 - qj, u);
	}
	return sum / acc;
}

/*
 * dist[m][u]: the probability that m intervals of length k, each at an
 * offset drawn uniformly from the 2k - 1 that overlap a query interval of
 * length k, leave u of the query's k bits uncovered.
 */
#define ALIGNED_MAX	3
static double aligned_dist[17][ALIGNED_MAX + 1][17];
static int aligned_done[17];

static void aligned_enum(unsigned int k, unsigned int m, unsigned int depth,
			 uint32_t mask, double w)
{
	if (depth == m) {
		aligned_dist[k][m][k - (unsigned int)__builtin_popcount(mask)] += w;
		return;
	}
	for (int t = -(int)k + 1; t < (int)k; t++) {
		uint32_t cover = 0;

		for (int i = 0; i < (int)k; i++)
			if (i + t >= 0 && i + t < (int)k)
				cover |= 1u << (i + t);
		aligned_enum(k, m, depth + 1, mask | cover, w / (2 * k - 1));
	}
}

/*
 * Predicted false-positive rate of FFWALL_FILTER_BLOCKED_BLOOM with k bits
 * per member, at lambda members per 512-bit block on average (see
 * kmod/DESIGN-filter.md for the derivation):
 *  - a member whose step b is +-b_q (mod 512) of the query's (1 in 128)
 *    sets an interval of the query's progression: "aligned"; it overlaps
 *    the query's k bits only at one of 2k - 1 offsets, so the aligned
 *    members that matter are Poisson(mu), mu = lambda / 128 * (2k - 1) / 512;
 *  - every other member sets k bits that count as random:
 *    lambda_r = lambda * 127 / 128, q = 1 - k/512;
 *  FPR = sum_m Poisson(m; mu) sum_u dist[m][u] E[(1 - q^J)^u],
 *        J ~ Poisson(lambda_r).
 * With no aligned members (m = 0, u = k) this is the textbook blocked Bloom
 * sum_j Poisson(j; lambda) (1 - (1 - k/512)^j)^k.
 */
static double predicted_fpr(double lambda, unsigned int k)
{
	double q = 1.0 - (double)k / BLOCK_BITS;
	double la = lambda * 2.0 / 256.0;
	double lr = lambda - la;
	double mu = la * (2.0 * k - 1.0) / BLOCK_BITS;
	double pm = nexp(-mu), sum = 0.0, cov[17];
	unsigned int m, u;

	if (!aligned_done[k]) {
		aligned_dist[k][0][k] = 1.0;
		for (m = 1; m <= ALIGNED_MAX; m++)
			aligned_enum(k, m, 0, 0, 1.0);
		aligned_done[k] = 1;
	}
	for (u = 0; u <= k; u++)
		cov[u] = covered(lr, q, u);
	for (m = 0; m <= ALIGNED_MAX; m++) {
		if (m > 0)
			pm *= mu / m;
		for (u = 0; u <= k; u++)
			sum += pm * aligned_dist[k][m][u] * cov[u];
	}
	return sum;
}

/* The textbook blocked Bloom formula, for comparison. */
static double textbook_fpr(double lambda, unsigned int k)
{
	return covered(lambda, 1.0 - (double)k / BLOCK_BITS, k);
}

/* Smallest filter (in blocks), and its k, that reaches @fpr for @n members. */
static void plan(uint64_t n, double fpr, uint64_t *bytes, uint32_t *k)
{
	uint64_t lo = 1, hi = (uint64_t)1 << 32, best_k = 1;

	if (n == 0)
		n = 1;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		double lambda = (double)n / (double)mid;
		double best = 2.0;
		unsigned int bk = 1;

		for (unsigned int kk = 1; kk <= 16; kk++) {
			double p = predicted_fpr(lambda, kk);

			if (p < best) {
				best = p;
				bk = kk;
			}
		}
		if (best <= fpr) {
			hi = mid;
			best_k = bk;
		} else {
			lo = mid + 1;
		}
	}
	*bytes = lo * FFWALL_FILTER_BLOCK_BYTES;
	/* best_k belongs to the last feasible mid, which is lo. */
	{
		double lambda = (double)n / (double)lo, best = 2.0;

		for (unsigned int kk = 1; kk <= 16; kk++) {
			double p = predicted_fpr(lambda, kk);

			if (p < best) {
				best = p;
				best_k = kk;
			}
		}
	}
	*k = (uint32_t)best_k;
}

/*
 * The deterministic address generator, shared with kmod/selftest/filter.c:
 * member i is ::ffff:10.x.y.z (i even) or 2001:db8::/64 (i odd), with the
 * index in the low bits; non-member j the same in 172.16.0.0/12 and
 * 2001:db8:1::/64.
 */
static void gen_addr(uint32_t i, int member, uint8_t a[16])
{
	memset(a, 0, 16);
	if (i % 2 == 0) {
		uint32_t v = (member ? 0x0a000000u : 0xac100000u) + i / 2;

		a[10] = 0xff;
		a[11] = 0xff;
		a[12] = (uint8_t)(v >> 24);
		a[13] = (uint8_t)(v >> 16);
		a[14] = (uint8_t)(v >> 8);
		a[15] = (uint8_t)v;
	} else {
		a[0] = 0x20;
		a[1] = 0x01;
		a[2] = 0x0d;
		a[3] = 0xb8;
		a[5] = member ? 0 : 1;
		a[12] = (uint8_t)(i >> 24);
		a[13] = (uint8_t)(i >> 16);
		a[14] = (uint8_t)(i >> 8);
		a[15] = (uint8_t)i;
	}
}

/* ---- Input --------------------------------------------------------------- */

static int parse_addr(const char *s, uint8_t a[16])
{
	struct in_addr v4;

	if (inet_pton(AF_INET6, s, a) == 1)
		return 0;
	if (inet_pton(AF_INET, s, &v4) == 1) {
		memset(a, 0, 10);
		a[10] = 0xff;
		a[11] = 0xff;
		memcpy(a + 12, &v4, 4);
		return 0;
	}
	return -1;
}

/* Reads stdin into an array of addresses; returns the count or -1. */
static long read_addrs(uint8_t (**out)[16])
{
	uint8_t (*v)[16] = NULL;
	size_t n = 0, cap = 0, lineno = 0;
	char line[256];

	while (fgets(line, sizeof(line), stdin)) {
		char *s = line, *e;

		lineno++;
		e = strchr(s, '#');
		if (e)
			*e = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strlen(s);
		while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (!*s)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			v = realloc(v, cap * sizeof(*v));
			if (!v) {
				fprintf(stderr, "ffwall-filter: out of memory\n");
				return -1;
			}
		}
		if (parse_addr(s, v[n]) < 0) {
			fprintf(stderr, "ffwall-filter: line %zu: bad address '%s'\n", lineno, s);
			free(v);
			return -1;
		}
		n++;
	}
	*out = v;
	return (long)n;
}

static int parse_seed(const char *s, uint64_t seed[2])
{
	char *end;

	errno = 0;
	seed[0] = strtoull(s, &end, 16);
	if (errno || *end != ':')
		return -1;
	seed[1] = strtoull(end + 1, &end, 16);
	if (errno || *end)
		return -1;
	return 0;
}

static int open_dev(void)
{
	int fd = open(dev_path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		fprintf(stderr, "ffwall-filter: %s: %s\n", dev_path, strerror(errno));
	return fd;
}

/* ---- Commands ------------------------------------------------------------ */

struct opts {
	double fpr;
	uint64_t capacity;
	uint64_t bytes;
	uint32_t k;
	uint64_t seed[2];
	int have_seed;
	const char *out;
	const char *in;
	int no_upload;
	int non_members;
	uint64_t members;
	uint64_t queries;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: ffwall-filter load [-p FPR] [-n CAP] [-b BYTES] [-k K] [-s SEED] [-o FILE] [-N] [-d DEV]\n"
		"       ffwall-filter add [-d DEV]\n"
		"       ffwall-filter plan -m MEMBERS [-p FPR]\n"
		"       ffwall-filter fpr [-m MEMBERS] [-q QUERIES] [-p FPR | -b BYTES -k K] [-s SEED] [-i FILE]\n"
		"       ffwall-filter gen [-m COUNT] [-x] | version [-d DEV]\n"
		"       ffwall-filter selftest | kat\n"
		"       ffwall-filter try-load|try-add [FIELD=VALUE]...\n");
	exit(2);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->fpr = 0.01;
	o->members = 10000;
	o->queries = 200000;
	while ((c = getopt(argc, argv, "p:n:b:k:s:o:i:Nd:m:q:x")) != -1) {
		switch (c) {
		case 'p':
			o->fpr = strtod(optarg, NULL);
			if (!(o->fpr > 0 && o->fpr < 1))
				usage();
			break;
		case 'n':
			o->capacity = strtoull(optarg, NULL, 0);
			break;
		case 'b':
			o->bytes = strtoull(optarg, NULL, 0);
			break;
		case 'k':
			o->k = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 's':
			if (parse_seed(optarg, o->seed) < 0)
				usage();
			o->have_seed = 1;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'i':
			o->in = optarg;
			break;
		case 'N':
			o->no_upload = 1;
			break;
		case 'x':
			o->non_members = 1;
			break;
		case 'd':
			dev_path = optarg;
			break;
		case 'm':
			o->members = strtoull(optarg, NULL, 0);
			break;
		case 'q':
			o->queries = strtoull(optarg, NULL, 0);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (o->bytes && (o->bytes % FFWALL_FILTER_BLOCK_BYTES || o->bytes > ((uint64_t)UINT32_MAX + 1) * FFWALL_FILTER_BLOCK_BYTES)) {
		fprintf(stderr, "ffwall-filter: -b must be a non-zero multiple of %d\n", FFWALL_FILTER_BLOCK_BYTES);
		exit(2);
	}
	if (o->k > 16) {
		fprintf(stderr, "ffwall-filter: -k must be 1..16\n");
		exit(2);
	}
}

/* Size and k from the options: forced ones win, the rest is planned. */
static void choose_geometry(const struct opts *o, uint64_t n, uint64_t *bytes, uint32_t *k)
{
	uint64_t pb;
	uint32_t pk;

	plan(n, o->fpr, &pb, &pk);
	*bytes = o->bytes ? o->bytes : pb;
	if (o->k) {
		*k = o->k;
	} else if (o->bytes) {
		/* The best k for the forced size. */
		double lambda = (double)n * FFWALL_FILTER_BLOCK_BYTES / (double)*bytes, best = 2.0;

		*k = 1;
		for (uint32_t kk = 1; kk <= 16; kk++) {
			double p = predicted_fpr(lambda, kk);

			if (p < best) {
				best = p;
				*k = kk;
			}
		}
	} else {
		*k = pk;
	}
}

static int write_file(const char *path, const struct filter *f)
{
	FILE *fp = fopen(path, "wb");

	if (!fp || fwrite(f->bits, 1, f->size, fp) != f->size || fclose(fp)) {
		fprintf(stderr, "ffwall-filter: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int cmd_load(int argc, char **argv)
{
	struct opts o;
	uint8_t (*addrs)[16];
	struct ffwall_filter_load req;
	struct filter f;
	uint64_t bytes, n;
	uint32_t k;
	long count;
	int fd, rc = 0;

	parse_opts(argc, argv, &o);
	count = read_addrs(&addrs);
	if (count < 0)
		return 1;
	n = (uint64_t)count > o.capacity ? (uint64_t)count : o.capacity;
	choose_geometry(&o, n, &bytes, &k);
	if (!o.have_seed && getrandom(o.seed, sizeof(o.seed), 0) != sizeof(o.seed)) {
		perror("ffwall-filter: getrandom");
		return 1;
	}
	if (filter_alloc(&f, bytes, k, o.seed) < 0)
		return 1;
	for (long i = 0; i < count; i++)
		filter_add(&f, addrs[i]);
	printf("members %ld capacity %" PRIu64 " bytes %" PRIu64 " k %u bits/member %.2f predicted_fpr %.6f seed %016" PRIx64 ":%016" PRIx64 "\n",
	       count, n, bytes, k, (double)bytes * 8 / (double)n,
	       predicted_fpr((double)n * FFWALL_FILTER_BLOCK_BYTES / (double)bytes, k),
	       o.seed[0], o.seed[1]);
	if (o.out && write_file(o.out, &f) < 0)
		rc = 1;
	if (!rc && !o.no_upload) {
		fd = open_dev();
		if (fd < 0)
			return 1;
		memset(&req, 0, sizeof(req));
		req.data = (uintptr_t)f.bits;
		req.size = bytes;
		req.algorithm = FFWALL_FILTER_BLOCKED_BLOOM;
		req.nhashes = k;
		req.seed[0] = o.seed[0];
		req.seed[1] = o.seed[1];
		req.members = (uint64_t)count;
		if (ioctl(fd, FFWALL_IOC_FILTER_LOAD, &req) < 0) {
			fprintf(stderr, "ffwall-filter: FILTER_LOAD: %s\n", strerror(errno));
			rc = 1;
		}
		close(fd);
	}
	free(f.bits);
	free(addrs);
	return rc;
}

static int cmd_add(int argc, char **argv)
{
	struct opts o;
	uint8_t (*addrs)[16];
	long count, done = 0;
	int fd, rc = 0;

	parse_opts(argc, argv, &o);
	count = read_addrs(&addrs);
	if (count < 0)
		return 1;
	fd = open_dev();
	if (fd < 0)
		return 1;
	while (done < count) {
		struct ffwall_filter_add req;
		long n = count - done;

		if (n > FFWALL_BATCH_MAX)
			n = FFWALL_BATCH_MAX;
		memset(&req, 0, sizeof(req));
		req.addrs = (uintptr_t)addrs[done];
		req.count = (uint32_t)n;
		if (ioctl(fd, FFWALL_IOC_FILTER_ADD, &req) < 0) {
			fprintf(stderr, "ffwall-filter: FILTER_ADD: %s\n", strerror(errno));
			rc = 1;
			break;
		}
		done += n;
	}
	close(fd);
	free(addrs);
	return rc;
}

static int cmd_plan(int argc, char **argv)
{
	struct opts o;
	uint64_t bytes;
	uint32_t k;

	parse_opts(argc, argv, &o);
	choose_geometry(&o, o.members, &bytes, &k);
	printf("members %" PRIu64 " target_fpr %g bytes %" PRIu64 " k %u bits/member %.2f bytes/member %.3f predicted_fpr %.6f\n",
	       o.members, o.fpr, bytes, k, (double)bytes * 8 / (double)o.members,
	       (double)bytes / (double)o.members,
	       predicted_fpr((double)o.members * FFWALL_FILTER_BLOCK_BYTES / (double)bytes, k));
	return 0;
}

static int read_file(const char *path, struct filter *f)
{
	FILE *fp = fopen(path, "rb");
	size_t got;

	if (!fp) {
		fprintf(stderr, "ffwall-filter: %s: %s\n", path, strerror(errno));
		return -1;
	}
	got = fread(f->bits, 1, f->size, fp);
	fclose(fp);
	if (got != f->size) {
		fprintf(stderr, "ffwall-filter: %s: %zu bytes, want %" PRIu64 "\n", path, got, f->size);
		return -1;
	}
	return 0;
}

static int cmd_fpr(int argc, char **argv)
{
	static const uint64_t default_seed[2] = { 0x0123456789abcdefULL, 0xfedcba9876543210ULL };
	struct opts o;
	struct filter f;
	uint64_t bytes, fp = 0, fn = 0;
	uint32_t k;
	double predicted, measured, sigma;

	parse_opts(argc, argv, &o);
	if (!o.have_seed) {
		o.seed[0] = default_seed[0];
		o.seed[1] = default_seed[1];
	}
	if (o.in) {
		struct stat st;

		if (stat(o.in, &st) < 0 || st.st_size <= 0 || st.st_size % FFWALL_FILTER_BLOCK_BYTES) {
			fprintf(stderr, "ffwall-filter: %s: not a filter\n", o.in);
			return 1;
		}
		if (!o.k || !o.have_seed) {
			fprintf(stderr, "ffwall-filter: -i needs -k and -s\n");
			return 2;
		}
		bytes = (uint64_t)st.st_size;
		k = o.k;
	} else {
		choose_geometry(&o, o.members, &bytes, &k);
	}
	if (filter_alloc(&f, bytes, k, o.seed) < 0)
		return 1;
	if (o.in) {
		if (read_file(o.in, &f) < 0)
			return 1;
	} else {
		for (uint32_t i = 0; i < o.members; i++) {
			uint8_t a[16];

			gen_addr(i, 1, a);
			filter_add(&f, a);
		}
	}
	for (uint32_t i = 0; i < o.members; i++) {
		uint8_t a[16];

		gen_addr(i, 1, a);
		fn += !filter_probe(&f, a);
	}
	for (uint32_t j = 0; j < o.queries; j++) {
		uint8_t a[16];

		gen_addr(j, 0, a);
		fp += filter_probe(&f, a);
	}
	predicted = predicted_fpr((double)o.members * FFWALL_FILTER_BLOCK_BYTES / (double)bytes, k);
	measured = (double)fp / (double)o.queries;
	sigma = nsqrt(predicted * (1 - predicted) / (double)o.queries);
	printf("members %" PRIu64 " queries %" PRIu64 " bytes %" PRIu64 " k %u bits/member %.2f false_negatives %" PRIu64 " false_positives %" PRIu64 " measured_fpr %.6f predicted_fpr %.6f sigma %.6f textbook_fpr %.6f\n",
	       o.members, o.queries, bytes, k, (double)bytes * 8 / (double)o.members, fn, fp,
	       measured, predicted, sigma,
	       textbook_fpr((double)o.members * FFWALL_FILTER_BLOCK_BYTES / (double)bytes, k));
	free(f.bits);
	/* Failure: any false negative, or more than 5 sigma plus 10% off the model. */
	if (fn || nabs(measured - predicted) > 5 * sigma + 0.1 * predicted)
		return 1;
	return 0;
}

static int cmd_gen(int argc, char **argv)
{
	struct opts o;
	char text[INET6_ADDRSTRLEN];

	parse_opts(argc, argv, &o);
	for (uint32_t i = 0; i < o.members; i++) {
		uint8_t a[16];

		gen_addr(i, !o.non_members, a);
		if (a[10] == 0xff && a[11] == 0xff && !a[0])
			inet_ntop(AF_INET, a + 12, text, sizeof(text));
		else
			inet_ntop(AF_INET6, a, text, sizeof(text));
		puts(text);
	}
	return 0;
}

static int cmd_version(int argc, char **argv)
{
	struct ffwall_version v;
	struct opts o;
	int fd;

	parse_opts(argc, argv, &o);
	fd = open_dev();
	if (fd < 0)
		return 1;
	if (ioctl(fd, FFWALL_IOC_VERSION, &v) < 0) {
		fprintf(stderr, "ffwall-filter: VERSION: %s\n", strerror(errno));
		close(fd);
		return 1;
	}
	close(fd);
	printf("abi %u features 0x%llx module %.16s\n", v.abi_version,
	       (unsigned long long)v.features, v.module_version);
	return 0;
}

/*
 * Known-answer vectors (kmod/selftest/filter_kat.h), shared with the
 * kernel's selftest.  Each one is checked here against the SipHash above and
 * the header's placement rule; the kernel checks them against its own code.
 */

static const struct {
	size_t len;
	uint64_t hash;
} sip_vectors[] = {
	/* Reference vectors: key 00..0f, message 00..len-1. */
	{ 0, 0x726fdb47dd0e0e31ULL },
	{ 1, 0x74f839c593dc67fdULL },
	{ 8, 0x93f5f5799a932462ULL },
	{ 15, 0xa129ca6149be45e5ULL },
	{ 16, 0x3f2acc7f57c29bdbULL },
	{ 32, 0x7127512f72f27cceULL },
};

static int check_kat(const struct ffwall_filter_kat *v, int print_only)
{
	struct filter f = {
		.nblocks = v->nblocks, .k = v->k,
		.seed = { v->seed[0], v->seed[1] },
	};
	struct where w;
	int bad = 0;

	locate(&f, v->addr, &w);
	if (print_only) {
		printf("\t{ { 0x%016" PRIx64 "ULL, 0x%016" PRIx64 "ULL }, {", (uint64_t)v->seed[0],
		       (uint64_t)v->seed[1]);
		for (int i = 0; i < 16; i++)
			printf("%s0x%02x", i ? ", " : " ", v->addr[i]);
		printf(" },\n\t  %u, %u, 0x%016" PRIx64 "ULL, %u,\n\t  {", v->nblocks, v->k, w.hash, w.block);
		for (uint32_t i = 0; i < v->k; i++)
			printf("%s%u", i ? ", " : " ", w.bit[i]);
		printf(" } },\n");
		return 0;
	}
	if (w.hash != v->hash || w.block != v->block)
		bad = 1;
	for (uint32_t i = 0; i < v->k; i++)
		if (w.bit[i] != v->bit[i])
			bad = 1;
	if (bad)
		fprintf(stderr, "kat: vector with nblocks %u: hash %016" PRIx64 " block %u differ\n",
			v->nblocks, w.hash, w.block);
	return bad;
}

static int cmd_selftest(int print_only)
{
	uint8_t msg[64];
	int bad = 0;
	size_t i;

	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	if (!print_only) {
		for (i = 0; i < sizeof(sip_vectors) / sizeof(sip_vectors[0]); i++) {
			uint64_t h = siphash24(0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL,
					       msg, sip_vectors[i].len);

			if (h != sip_vectors[i].hash) {
				fprintf(stderr, "siphash: len %zu: %016" PRIx64 ", want %016" PRIx64 "\n",
					sip_vectors[i].len, h, sip_vectors[i].hash);
				bad = 1;
			}
		}
	}
	for (i = 0; i < sizeof(ffwall_filter_kats) / sizeof(ffwall_filter_kats[0]); i++)
		bad |= check_kat(&ffwall_filter_kats[i], print_only);
	if (!print_only) {
		/* The deterministic generator: no false negative, a sane FPR. */
		struct filter f;
		uint64_t seed[2] = { 1, 2 };
		int fn = 0;

		if (filter_alloc(&f, 64 * 64, 8, seed) < 0)
			return 1;
		for (uint32_t j = 0; j < 2000; j++) {
			uint8_t a[16];

			gen_addr(j, 1, a);
			filter_add(&f, a);
		}
		for (uint32_t j = 0; j < 2000; j++) {
			uint8_t a[16];

			gen_addr(j, 1, a);
			fn += !filter_probe(&f, a);
		}
		free(f.bits);
		if (fn) {
			fprintf(stderr, "filter: %d false negatives\n", fn);
			bad = 1;
		}
		printf("%s\n", bad ? "FAIL" : "OK");
	}
	return bad;
}

/* ---- Raw ioctls for the ABI tests ---------------------------------------- */

static void *bad_pointer(void)
{
	/* A mapping that is gone: any access faults. */
	void *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	munmap(p, 4096);
	return p;
}

static const char *errno_name(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EFAULT: return "EFAULT";
	case EINVAL: return "EINVAL";
	case ENOMEM: return "ENOMEM";
	case ENOTTY: return "ENOTTY";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ENOSPC: return "ENOSPC";
	case E2BIG: return "E2BIG";
	default: return strerror(e);
	}
}

static int report(int fd, unsigned long cmd, void *arg)
{
	if (ioctl(fd, cmd, arg) < 0)
		printf("%s\n", errno_name(errno));
	else
		printf("OK\n");
	return 0;
}

static uint64_t num(const char *s)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end) {
		fprintf(stderr, "ffwall-filter: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static int cmd_try_load(int argc, char **argv)
{
	struct ffwall_filter_load req;
	uint64_t fill = 0;
	int bad_data = 0, bad_arg = 0, fd, i;
	void *buf;

	memset(&req, 0, sizeof(req));
	req.size = FFWALL_FILTER_BLOCK_BYTES;
	req.algorithm = FFWALL_FILTER_BLOCKED_BLOOM;
	req.nhashes = 7;
	for (i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		const char *v;

		if (!eq)
			usage();
		*eq = '\0';
		v = eq + 1;
		if (!strcmp(argv[i], "size"))
			req.size = num(v);
		else if (!strcmp(argv[i], "alg"))
			req.algorithm = (uint32_t)num(v);
		else if (!strcmp(argv[i], "k"))
			req.nhashes = (uint32_t)num(v);
		else if (!strcmp(argv[i], "flags"))
			req.flags = (uint32_t)num(v);
		else if (!strcmp(argv[i], "r0"))
			req.reserved0 = (uint32_t)num(v);
		else if (!strcmp(argv[i], "r1"))
			req.reserved[0] = num(v);
		else if (!strcmp(argv[i], "r2"))
			req.reserved[1] = num(v);
		else if (!strcmp(argv[i], "members"))
			req.members = num(v);
		else if (!strcmp(argv[i], "fill"))
			fill = num(v);
		else if (!strcmp(argv[i], "seed")) {
			uint64_t sd[2];

			if (parse_seed(v, sd) < 0)
				usage();
			req.seed[0] = sd[0];
			req.seed[1] = sd[1];
		} else if (!strcmp(argv[i], "data") && !strcmp(v, "bad"))
			bad_data = 1;
		else if (!strcmp(argv[i], "arg") && !strcmp(v, "bad"))
			bad_arg = 1;
		else
			usage();
	}
	/* Only allocate what can be legal; a size beyond it never reaches the copy. */
	buf = calloc(1, req.size <= DEFAULT_MAX_BYTES * 4 ? (size_t)req.size + 1 : 1);
	if (!buf) {
		perror("calloc");
		return 1;
	}
	if (req.size <= DEFAULT_MAX_BYTES * 4)
		memset(buf, (int)fill, (size_t)req.size);
	req.data = bad_data ? (uintptr_t)bad_pointer() : (uintptr_t)buf;
	fd = open_dev();
	if (fd < 0)
		return 1;
	report(fd, FFWALL_IOC_FILTER_LOAD, bad_arg ? bad_pointer() : &req);
	close(fd);
	free(buf);
	return 0;
}

static int cmd_try_add(int argc, char **argv)
{
	struct ffwall_filter_add req;
	uint8_t addrs[64][16];
	uint32_t n = 0;
	int have_count = 0, bad_addrs = 0, bad_arg = 0, fd, i;

	memset(&req, 0, sizeof(req));
	for (i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		const char *v;

		if (!eq)
			usage();
		*eq = '\0';
		v = eq + 1;
		if (!strcmp(argv[i], "count")) {
			req.count = (uint32_t)num(v);
			have_count = 1;
		} else if (!strcmp(argv[i], "flags")) {
			req.flags = (uint32_t)num(v);
		} else if (!strcmp(argv[i], "reserved")) {
			req.reserved = num(v);
		} else if (!strcmp(argv[i], "addr")) {
			if (n == 64 || parse_addr(v, addrs[n]) < 0)
				usage();
			n++;
		} else if (!strcmp(argv[i], "addrs") && !strcmp(v, "bad")) {
			bad_addrs = 1;
		} else if (!strcmp(argv[i], "arg") && !strcmp(v, "bad")) {
			bad_arg = 1;
		} else {
			usage();
		}
	}
	if (!have_count)
		req.count = n;
	req.addrs = bad_addrs ? (uintptr_t)bad_pointer() : (uintptr_t)addrs;
	fd = open_dev();
	if (fd < 0)
		return 1;
	report(fd, FFWALL_IOC_FILTER_ADD, bad_arg ? bad_pointer() : &req);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "load"))
		return cmd_load(argc - 1, argv + 1);
	if (!strcmp(argv[1], "add"))
		return cmd_add(argc - 1, argv + 1);
	if (!strcmp(argv[1], "plan"))
		return cmd_plan(argc - 1, argv + 1);
	if (!strcmp(argv[1], "fpr"))
		return cmd_fpr(argc - 1, argv + 1);
	if (!strcmp(argv[1], "gen"))
		return cmd_gen(argc - 1, argv + 1);
	if (!strcmp(argv[1], "version"))
		return cmd_version(argc - 1, argv + 1);
	if (!strcmp(argv[1], "selftest"))
		return cmd_selftest(0);
	if (!strcmp(argv[1], "kat"))
		return cmd_selftest(1);
	if (!strcmp(argv[1], "try-load"))
		return cmd_try_load(argc - 1, argv + 1);
	if (!strcmp(argv[1], "try-add"))
		return cmd_try_add(argc - 1, argv + 1);
	usage();
	return 2;
}
