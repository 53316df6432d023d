// SPDX-License-Identifier: MIT
/*
 * dump-check: the DUMP guarantee under concurrent ADD, DEL and resize.
 *
 *   dump-check [ROUNDS] [CAPACITY]
 *
 * Adds a stable set: 20000 exact IPv4 addresses (10.50.0.0 on), 2000 IPv6
 * /48 ban prefixes (2001:db8:N::/48) and 500 allowlist /120s
 * (fd77::N:0/120).  A child process then churns until killed: ADD and DEL
 * of other exact entries in 60000-record batches (the exact table grows
 * and shrinks: resizes), of other ban prefixes and of other allowlist
 * entries.  Meanwhile the parent runs ROUNDS (default 20) full DUMPs of
 * CAPACITY (default 64) records per call and checks each: every stable
 * entry is returned exactly once, and no entry (stable or not) twice.
 * Prints TAP lines; exit status 0 when every check passed.  Leaves the
 * tables flushed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "uapi/ffwall.h"

#define N_EXACT		20000
#define N_PREFIX	2000
#define N_ALLOW		500
#define CHURN_EXACT	60000
#define HBITS		20
#define HSIZE		(1U << HBITS)

struct slot {
	uint8_t addr[16];
	uint8_t len;
	uint8_t kind;
	uint8_t used;
	uint32_t seen;
};

static int fd;
static struct slot *tab;
static int failures, tests;

static void ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tests++;
	printf("%s %d - ", cond ? "ok" : "not ok", tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!cond)
		failures++;
}

static uint32_t hash(const uint8_t *a, uint8_t len, uint8_t kind)
{
	uint64_t h = 1469598103934665603ULL;
	int i;

	for (i = 0; i < 16; i++)
		h = (h ^ a[i]) * 1099511628211ULL;
	h = (h ^ len) * 1099511628211ULL;
	h = (h ^ kind) * 1099511628211ULL;
	return (uint32_t)(h >> 20) & (HSIZE - 1);
}

static struct slot *find(const uint8_t *a, uint8_t len, uint8_t kind, int create)
{
	uint32_t i = hash(a, len, kind);

	for (;; i = (i + 1) & (HSIZE - 1)) {
		struct slot *s = &tab[i];

		if (!s->used) {
			if (!create)
				return NULL;
			memcpy(s->addr, a, 16);
			s->len = len;
			s->kind = kind;
			s->used = 1;
			s->seen = 0;
			return s;
		}
		if (s->len == len && s->kind == kind && !memcmp(s->addr, a, 16))
			return s;
	}
}

static void v4(uint8_t *a, uint32_t ip)
{
	uint32_t be = htonl(ip);

	memset(a, 0, 16);
	a[10] = 0xff;
	a[11] = 0xff;
	memcpy(a + 12, &be, 4);
}

static void pfx48(uint8_t *a, uint16_t base, uint32_t n)
{
	memset(a, 0, 16);
	a[0] = 0x20;
	a[1] = 0x01;
	a[2] = 0x0d;
	a[3] = 0xb8;
	a[4] = (base + n) >> 8;
	a[5] = (base + n) & 0xff;
}

static void allow120(uint8_t *a, uint8_t hi, uint32_t n)
{
	memset(a, 0, 16);
	a[0] = 0xfd;
	a[1] = 0x77;
	a[12] = hi;
	a[13] = n >> 8;
	a[14] = n & 0xff;
}

static int batch(unsigned long req, struct ffwall_rule *r, uint32_t n)
{
	struct ffwall_batch b;

	memset(&b, 0, sizeof(b));
	b.records = (uintptr_t)r;
	b.count = n;
	b.record_size = sizeof(*r);
	return ioctl(fd, req, &b) ? -errno : 0;
}

/* Fill @r with @n records of one family: 0 exact, 1 prefix, 2 allowlist. */
static void fill(struct ffwall_rule *r, uint32_t n, int what, uint32_t base)
{
	uint32_t i;

	memset(r, 0, n * sizeof(*r));
	for (i = 0; i < n; i++) {
		switch (what) {
		case 0:
			v4(r[i].addr, base + i);
			r[i].prefix_len = 128;
			break;
		case 1:
			pfx48(r[i].addr, base, i);
			r[i].prefix_len = 48;
			break;
		default:
			allow120(r[i].addr, base, i);
			r[i].prefix_len = 120;
			break;
		}
	}
}

static void churn(void)
{
	struct ffwall_rule *r = calloc(CHURN_EXACT, sizeof(*r));
	if (!r)
		_exit(1);
	for (;;) {
		fill(r, CHURN_EXACT, 0, 0x0a3c0000);	/* 10.60.0.0 */
		batch(FFWALL_IOC_ADD, r, CHURN_EXACT);
		fill(r, 1000, 1, 0x4000);
		batch(FFWALL_IOC_ADD, r, 1000);
		fill(r, 200, 2, 0x40);
		batch(FFWALL_IOC_ALLOW_ADD, r, 200);
		fill(r, CHURN_EXACT, 0, 0x0a3c0000);
		batch(FFWALL_IOC_DEL, r, CHURN_EXACT);
		fill(r, 1000, 1, 0x4000);
		batch(FFWALL_IOC_DEL, r, 1000);
		fill(r, 200, 2, 0x40);
		batch(FFWALL_IOC_ALLOW_DEL, r, 200);
	}
}

static uint64_t stat_resizes(void)
{
	struct ffwall_stats s;

	if (ioctl(fd, FFWALL_IOC_STATS, &s))
		return 0;
	return s.resizes;
}

int main(int argc, char **argv)
{
	uint32_t rounds = argc > 1 ? strtoul(argv[1], NULL, 0) : 20;
	uint32_t cap = argc > 2 ? strtoul(argv[2], NULL, 0) : 64;
	struct ffwall_entry_info *recs;
	struct ffwall_rule *r;
	struct ffwall_flush f;
	uint64_t resizes0;
	uint32_t round, i;
	pid_t child;

	fd = open("/dev/ffwall", O_RDWR | O_CLOEXEC);
	tab = calloc(HSIZE, sizeof(*tab));
	recs = calloc(cap, sizeof(*recs));
	r = calloc(N_EXACT, sizeof(*r));
	if (fd < 0 || !tab || !recs || !r) {
		perror("dump-check: setup");
		return 1;
	}
	printf("1..%u\n", rounds * 2 + 3);
	fill(r, N_EXACT, 0, 0x0a320000);	/* 10.50.0.0 */
	ok(!batch(FFWALL_IOC_ADD, r, N_EXACT), "stable exact entries added");
	fill(r, N_PREFIX, 1, 0x1000);
	i = !batch(FFWALL_IOC_ADD, r, N_PREFIX);
	fill(r, N_ALLOW, 2, 0x10);
	ok(i && !batch(FFWALL_IOC_ALLOW_ADD, r, N_ALLOW),
	   "stable prefixes and allowlist entries added");

	resizes0 = stat_resizes();
	child = fork();
	if (child < 0) {
		perror("fork");
		return 1;
	}
	if (!child)
		churn();

	for (round = 0; round < rounds; round++) {
		struct ffwall_dump d;
		uint32_t dups = 0, missing = 0, calls = 0, total = 0, k;

		for (i = 0; i < HSIZE; i++)
			tab[i].used = 0;
		/* The stable entries, expected once each. */
		for (i = 0; i < N_EXACT + N_PREFIX + N_ALLOW; i++) {
			uint8_t a[16];
			struct slot *s;

			if (i < N_EXACT) {
				v4(a, 0x0a320000 + i);
				s = find(a, 128, FFWALL_MATCH_EXACT, 1);
			} else if (i < N_EXACT + N_PREFIX) {
				pfx48(a, 0x1000, i - N_EXACT);
				s = find(a, 48, FFWALL_MATCH_PREFIX, 1);
			} else {
				allow120(a, 0x10, i - N_EXACT - N_PREFIX);
				s = find(a, 120, FFWALL_MATCH_ALLOW, 1);
			}
			s->seen = 0x80000000U;	/* marks a stable entry */
		}
		memset(&d, 0, sizeof(d));
		d.records = (uintptr_t)recs;
		d.capacity = cap;
		d.record_size = sizeof(*recs);
		do {
			if (ioctl(fd, FFWALL_IOC_DUMP, &d)) {
				perror("DUMP");
				kill(child, SIGKILL);
				return 1;
			}
			calls++;
			total += d.count;
			for (k = 0; k < d.count; k++) {
				struct slot *s = find(recs[k].rule.addr, recs[k].rule.prefix_len,
						      recs[k].kind, 1);

				if ((s->seen & 0x7fffffff) >= 1)
					dups++;
				s->seen++;
			}
		} while (d.cursor != FFWALL_DUMP_END);
		for (i = 0; i < HSIZE; i++)
			if (tab[i].used && tab[i].seen == 0x80000000U)
				missing++;
		ok(!dups, "round %u: no entry twice (%u records in %u calls, %u duplicates)",
		   round, total, calls, dups);
		ok(!missing, "round %u: every stable entry returned (%u missing)", round, missing);
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	resizes0 = stat_resizes() - resizes0;
	ok(resizes0 > 0, "the exact table resized during the dumps (%" PRIu64 " resizes)",
	   resizes0);

	memset(&f, 0, sizeof(f));
	f.scope = FFWALL_FLUSH_ALL;
	if (ioctl(fd, FFWALL_IOC_FLUSH, &f))
		perror("FLUSH");
	return failures ? 1 : 0;
}
