// SPDX-License-Identifier: MIT
/*
 * stress: randomized ioctls, event reads and traffic against ffwall.ko.
 *
 *   stress [-p PROCS] [-t SECONDS] [-s SEED] [-d DEV]
 *   stress traffic IFADDR DST SECONDS     (run inside the peer namespace)
 *
 * PROCS processes (default 4) each open /dev/ffwall (read-write, so they
 * have an event ring) and, for SECONDS (default 30), issue random commands:
 * batches of ADD/DEL with valid and invalid records, LOOKUP, DUMP with random
 * cursors and "hit since", FLUSH, SET_CONFIG, ATTACH/DETACH, LIST_DEVICES,
 * STATS, RESERVE, the allowlist commands, FILTER_LOAD/FILTER_ADD, non-blocking reads
 * of the event ring, bad pointers and unknown command numbers.  Every errno
 * must be one that kmod/uapi/ffwall.h documents for that command; batch
 * results must be consistent (applied <= count, bad_index < count on EINVAL).
 * A process that sees anything else prints the seed, the command and the
 * errno, and the run fails.
 *
 * Process i uses the seed SEED + i, so a failing run is replayed with the
 * same -s and -p.  The seed is printed first, on stdout, as a TAP comment.
 *
 * The traffic mode sends UDP, TCP SYN and ICMP echo from every address of
 * IFADDR (comma-separated) to DST, as fast as it can, until SECONDS pass:
 * started in the peer namespace, it keeps the hooks busy during the run.
 *
 * Output: TAP, one test per process plus the summary.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "uapi/ffwall.h"

/* A set of errnos (EOPNOTSUPP is 95, past 64 bits). */
typedef unsigned __int128 errset;
#define BIT(e) ((errset)1 << (e))

static const char *dev = "/dev/ffwall";
static uint64_t rng;
static int fd;
static void *bad_ptr;		/* an unmapped page: EFAULT */
static unsigned long ops, errors_seen;

static uint64_t next(void)
{
	/* xorshift64*: fast, and the same sequence for the same seed. */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

static uint32_t below(uint32_t n)
{
	return n ? (uint32_t)(next() % n) : 0;
}

static int chance(unsigned int pct)
{
	return below(100) < pct;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t seed_of_run;
static int proc_index;

/* Fails the process: the report names everything needed to replay it. */
static void bad(const char *what, int err)
{
	printf("# stress: process %d (seed %" PRIu64 "), op %lu: %s: unexpected %s (%d)\n",
	       proc_index, seed_of_run, ops, what, err ? strerror(err) : "success", err);
	fflush(stdout);
	exit(1);
}

/* Calls the ioctl; the errno must be in @allowed (bit per errno, 0 = ok). */
static int call(const char *name, unsigned long cmd, void *arg, errset allowed)
{
	int r = ioctl(fd, cmd, arg);
	int err = r ? errno : 0;

	ops++;
	if (err == EINTR)
		return err;
	if (err >= 128 || !(allowed & BIT(err)))
		bad(name, err);
	if (err)
		errors_seen++;
	return err;
}

/* An address: mostly from a few small ranges, so that entries collide. */
static void rand_addr(uint8_t a[16], uint8_t *plen)
{
	memset(a, 0, 16);
	if (chance(70)) {
		a[10] = 0xff;
		a[11] = 0xff;
		a[12] = 10;
		a[13] = 99;
		a[14] = (uint8_t)below(4);
		a[15] = (uint8_t)below(256);
		*plen = 128;
	} else if (chance(60)) {
		a[0] = 0xfd;
		a[1] = 0x99;
		a[15] = (uint8_t)below(512);
		*plen = 128;
	} else {
		/* A prefix, sometimes with host bits set (invalid). */
		a[10] = 0xff;
		a[11] = 0xff;
		a[12] = 10;
		a[13] = (uint8_t)below(256);
		*plen = (uint8_t)(96 + 8 + below(17));
		if (chance(70)) {
			unsigned int b;

			for (b = *plen; b < 128; b++)
				a[b / 8] &= (uint8_t)~(0x80 >> (b % 8));
		}
	}
}

static void rand_rule(struct ffwall_rule *r)
{
	unsigned int i;

	memset(r, 0, sizeof(*r));
	rand_addr(r->addr, &r->prefix_len);
	if (chance(30)) {
		r->nports = (uint8_t)(1 + below(FFWALL_MAX_PORTS));
		for (i = 0; i < r->nports; i++)
			r->ports[i] = (uint16_t)(chance(50) ? 25 + below(3) : 1 + below(65535));
	}
	if (chance(20))
		r->flags |= FFWALL_F_PINNED;
	if (chance(20))
		r->flags |= FFWALL_F_MONITOR;
	r->ttl = chance(50) ? 0 : 1 + below(5);
	/* Now and then something invalid. */
	switch (below(40)) {
	case 0:
		r->reserved = 1;
		break;
	case 1:
		r->nports = FFWALL_MAX_PORTS + 1;
		break;
	case 2:
		r->flags |= 0x8000;
		break;
	case 3:
		r->ports[FFWALL_MAX_PORTS - 1] = 7;
		break;
	case 4:
		r->prefix_len = 129;
		break;
	default:
		break;
	}
}

static void op_batch(unsigned long cmd, const char *name, errset allowed)
{
	static struct ffwall_rule recs[512];
	struct ffwall_batch b;
	uint32_t n = below(chance(10) ? 512 : 32), i;
	int err;

	for (i = 0; i < n; i++)
		rand_rule(&recs[i]);
	memset(&b, 0, sizeof(b));
	b.records = (uintptr_t)recs;
	b.count = n;
	b.record_size = sizeof(recs[0]);
	if (chance(3))
		b.records = (uintptr_t)bad_ptr;
	if (chance(2))
		b.record_size = 40;
	if (chance(2))
		b.count = FFWALL_BATCH_MAX + 1;
	if (chance(2))
		b.flags = 1;
	if (chance(2)) {
		call(name, cmd, bad_ptr, allowed);
		return;
	}
	b.applied = 0x5a5a5a5a;
	err = call(name, cmd, &b, allowed);
	/* The kernel writes the results back except for these. */
	if (err == EINTR || err == ENOTTY || err == EFAULT)
		return;
	if (b.applied > b.count)
		bad("batch: applied > count", err);
	if (err == EINVAL && b.applied != 0)
		bad("batch: records applied although the batch was invalid", err);
	if (err == EINVAL && b.bad_index != 0xffffffff && b.bad_index >= b.count)
		bad("batch: bad_index beyond the batch", err);
	if (!err && b.applied != b.count)
		bad("batch: success with records left over", err);
}

static void op_dump(unsigned long cmd, const char *name, errset allowed)
{
	static struct ffwall_entry_info recs[256];
	struct ffwall_dump d;
	int rounds = 0;

	memset(&d, 0, sizeof(d));
	d.records = (uintptr_t)recs;
	d.capacity = chance(5) ? below(FFWALL_DUMP_MIN) : FFWALL_DUMP_MIN + below(256 - FFWALL_DUMP_MIN + 1);
	d.record_size = chance(3) ? 64 : sizeof(recs[0]);
	d.hit_since = chance(30) ? below(1u << 20) : 0;
	if (chance(5))
		d.cursor = next();
	if (chance(3))
		d.records = (uintptr_t)bad_ptr;
	while (rounds++ < 64) {
		if (call(name, cmd, &d, allowed))
			return;
		if (d.count > d.capacity)
			bad("dump: count > capacity", 0);
		if (d.cursor == FFWALL_DUMP_END)
			return;
	}
}

static void op_config(void)
{
	struct ffwall_config c;

	if (call("GET_CONFIG", FFWALL_IOC_GET_CONFIG, &c, BIT(0)))
		return;
	c.set_mask = (uint32_t)below(16);
	c.max_entries = chance(10) ? 0 : 64 + below(4096);
	c.mode = chance(10) ? FFWALL_MODE_MONITOR : (chance(2) ? 7 : FFWALL_MODE_ENFORCE);
	c.gc_interval = chance(5) ? 0 : 1 + below(5);
	if (chance(3))
		c.reserved[0] = 1;
	call("SET_CONFIG", FFWALL_IOC_SET_CONFIG, &c, BIT(0) | BIT(EINVAL) | BIT(ENOSPC));
}

static void op_device(void)
{
	static const char *names[] = { "ffw0", "*", "lo", "nosuchdev", "", "eth0" };
	struct ffwall_device d;
	struct ffwall_device_list l;
	struct ffwall_device out[8];

	memset(&d, 0, sizeof(d));
	strncpy(d.name, names[below(6)], sizeof(d.name) - 1);
	if (chance(3))
		memset(d.name, 'x', sizeof(d.name));	/* unterminated */
	if (chance(3))
		d.flags = 1;
	switch (below(3)) {
	case 0:
		call("ATTACH", FFWALL_IOC_ATTACH, &d,
		     BIT(0) | BIT(EINVAL) | BIT(ENOSPC) | BIT(ENOMEM) | BIT(EBUSY) | BIT(EEXIST));
		break;
	case 1:
		call("DETACH", FFWALL_IOC_DETACH, &d, BIT(0) | BIT(EINVAL) | BIT(ENOENT));
		break;
	default:
		memset(&l, 0, sizeof(l));
		l.devices = (uintptr_t)(chance(3) ? bad_ptr : out);
		l.capacity = below(9);
		call("LIST_DEVICES", FFWALL_IOC_LIST_DEVICES, &l, BIT(0) | BIT(EFAULT) | BIT(EINVAL));
		break;
	}
}

static void op_filter(void)
{
	static uint8_t bits[64 * 64];
	struct ffwall_filter_load fl;
	struct ffwall_filter_add fa;
	uint8_t addrs[16 * 16];
	unsigned int i;

	if (chance(50)) {
		for (i = 0; i < sizeof(bits); i++)
			bits[i] = (uint8_t)(chance(10) ? next() : 0);
		memset(&fl, 0, sizeof(fl));
		fl.data = (uintptr_t)(chance(3) ? bad_ptr : bits);
		fl.size = chance(5) ? 100 : 64 * (1 + below(64));
		fl.algorithm = chance(3) ? 2 : FFWALL_FILTER_BLOCKED_BLOOM;
		fl.nhashes = chance(3) ? 0 : 1 + below(16);
		fl.seed[0] = next();
		fl.seed[1] = next();
		if (chance(3))
			fl.reserved[1] = 1;
		call("FILTER_LOAD", FFWALL_IOC_FILTER_LOAD, &fl,
		     BIT(0) | BIT(EFAULT) | BIT(EINVAL) | BIT(ENOMEM));
	} else {
		for (i = 0; i < 16; i++) {
			uint8_t plen;

			rand_addr(addrs + 16 * i, &plen);
		}
		memset(&fa, 0, sizeof(fa));
		fa.addrs = (uintptr_t)(chance(3) ? bad_ptr : addrs);
		fa.count = chance(3) ? FFWALL_BATCH_MAX + 1 : below(17);
		call("FILTER_ADD", FFWALL_IOC_FILTER_ADD, &fa,
		     BIT(0) | BIT(EFAULT) | BIT(EINVAL) | BIT(ENOENT) | BIT(ENOMEM));
	}
}

static void op_read(void)
{
	struct ffwall_event ev[16];
	size_t len = chance(5) ? below(sizeof(ev[0])) : sizeof(ev);
	ssize_t n = read(fd, chance(3) ? bad_ptr : (void *)ev, len);

	ops++;
	if (n < 0 && errno != EAGAIN && errno != EINVAL && errno != EFAULT && errno != EINTR)
		bad("read", errno);
	if (n > 0 && n % sizeof(ev[0]))
		bad("read returned a partial record", 0);
}

static int worker(int idx, uint64_t seed, double seconds)
{
	const errset batch_err = BIT(0) | BIT(EFAULT) | BIT(EINVAL) | BIT(EOPNOTSUPP) |
				   BIT(ENOMEM) | BIT(ENOSPC) | BIT(EEXIST);
	errset allow_err = batch_err | BIT(ENOTTY);
	double end = now_s() + seconds;
	struct ffwall_version v;

	proc_index = idx;
	seed_of_run = seed;
	rng = seed ? seed : 1;
	fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		bad("open", errno);
	call("VERSION", FFWALL_IOC_VERSION, &v, BIT(0));
	while (now_s() < end) {
		switch (below(16)) {
		case 0:
		case 1:
		case 2:
			op_batch(FFWALL_IOC_ADD, "ADD", batch_err);
			break;
		case 3:
			op_batch(FFWALL_IOC_DEL, "DEL", batch_err & ~BIT(ENOSPC) & ~BIT(EEXIST));
			break;
		case 4: {
			struct ffwall_lookup l;
			uint8_t plen;

			memset(&l, 0, sizeof(l));
			rand_addr(l.addr, &plen);
			if (chance(50)) {
				l.flags = FFWALL_LOOKUP_F_PORT;
				l.port = (uint16_t)below(65536);
			}
			if (chance(3))
				l.reserved0 = 1;
			call("LOOKUP", FFWALL_IOC_LOOKUP, chance(2) ? bad_ptr : &l,
			     BIT(0) | BIT(EFAULT) | BIT(EINVAL));
			break;
		}
		case 5:
			op_dump(FFWALL_IOC_DUMP, "DUMP", BIT(0) | BIT(EFAULT) | BIT(EINVAL) | BIT(ENOMEM));
			break;
		case 6:
			if (chance(10)) {
				struct ffwall_flush f;

				memset(&f, 0, sizeof(f));
				f.scope = chance(5) ? 0 : 1 + below(FFWALL_FLUSH_ALL);
				f.with_flags = (uint16_t)(chance(50) ? 0 : below(4));
				call("FLUSH", FFWALL_IOC_FLUSH, &f,
				     BIT(0) | BIT(EFAULT) | BIT(EINVAL) | BIT(EOPNOTSUPP) | BIT(ENOMEM));
			}
			break;
		case 7:
			op_config();
			break;
		case 8:
			op_device();
			break;
		case 9: {
			struct ffwall_stats s;
			struct ffwall_reserve r;

			call("STATS", FFWALL_IOC_STATS, chance(3) ? bad_ptr : &s, BIT(0) | BIT(EFAULT));
			if (chance(10)) {
				/* RESERVE, now and then a big one (the cap bounds it). */
				memset(&r, 0, sizeof(r));
				r.entries = chance(5) ? below(1U << 22) : below(4096);
				r.reserved0 = chance(10) ? 1 : 0;
				call("RESERVE", FFWALL_IOC_RESERVE, chance(5) ? bad_ptr : &r,
				     BIT(0) | BIT(EFAULT) | BIT(EINVAL) | BIT(ENOMEM));
			}
			break;
		}
		case 10:
			op_batch(FFWALL_IOC_ALLOW_ADD, "ALLOW_ADD", allow_err);
			break;
		case 11:
			if (chance(50))
				op_batch(FFWALL_IOC_ALLOW_DEL, "ALLOW_DEL", allow_err);
			else
				op_dump(FFWALL_IOC_ALLOW_DUMP, "ALLOW_DUMP",
					BIT(0) | BIT(EFAULT) | BIT(EINVAL) | BIT(ENOMEM) | BIT(ENOTTY));
			break;
		case 12:
			op_filter();
			break;
		case 13:
		case 14:
			op_read();
			break;
		default: {
			char buf[256] = { 0 };
			/* An unknown number, or a known one with a wrong size. */
			unsigned long cmd = chance(50) ?
				_IOWR(FFWALL_IOC_MAGIC, 0x12 + below(0xed), char[16]) :
				_IOWR(FFWALL_IOC_MAGIC, below(0x12), char[200]);

			call("unknown command", cmd, buf, BIT(ENOTTY));
			break;
		}
		}
	}
	close(fd);
	printf("ok %d - process %d (seed %" PRIu64 "): %lu operations, %lu refused as documented\n",
	       idx + 1, idx, seed, ops, errors_seen);
	return 0;
}

static int traffic(const char *srcs, const char *dst, double seconds)
{
	char list[256];
	int socks[16], n = 0, i;
	char *tok, *save = NULL;
	struct sockaddr_in d = { .sin_family = AF_INET };
	double end = now_s() + seconds;
	unsigned long sent = 0;

	if (inet_pton(AF_INET, dst, &d.sin_addr) != 1)
		return fprintf(stderr, "stress: bad destination %s\n", dst), 2;
	snprintf(list, sizeof(list), "%s", srcs);
	for (tok = strtok_r(list, ",", &save); tok && n < 16; tok = strtok_r(NULL, ",", &save)) {
		struct sockaddr_in s = { .sin_family = AF_INET };
		int u = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

		if (u < 0 || inet_pton(AF_INET, tok, &s.sin_addr) != 1 ||
		    bind(u, (struct sockaddr *)&s, sizeof(s)))
			return fprintf(stderr, "stress: cannot bind %s\n", tok), 2;
		socks[n++] = u;
	}
	while (now_s() < end) {
		for (i = 0; i < n; i++) {
			int t;
			struct sockaddr_in s;
			socklen_t sl = sizeof(s);

			d.sin_port = htons((uint16_t)(chance(50) ? 25 : 1024 + below(60000)));
			sendto(socks[i], "stress", 6, 0, (struct sockaddr *)&d, sizeof(d));
			sent++;
			if (!(sent % 64)) {
				/* A TCP SYN now and then: a flow start, for the filter. */
				t = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
				getsockname(socks[i], (struct sockaddr *)&s, &sl);
				s.sin_port = 0;
				if (t >= 0 && !bind(t, (struct sockaddr *)&s, sizeof(s)))
					connect(t, (struct sockaddr *)&d, sizeof(d));
				if (t >= 0)
					close(t);
			}
		}
	}
	fprintf(stderr, "stress: traffic sent %lu datagrams\n", sent);
	return 0;
}

int main(int argc, char **argv)
{
	int procs = 4, c, i, failed = 0;
	double seconds = 30;
	uint64_t seed = 0;

	if (argc == 5 && !strcmp(argv[1], "traffic")) {
		rng = (uint64_t)getpid() * 0x9E3779B97F4A7C15ULL;
		return traffic(argv[2], argv[3], atof(argv[4]));
	}
	while ((c = getopt(argc, argv, "p:t:s:d:")) != -1) {
		switch (c) {
		case 'p':
			procs = atoi(optarg);
			break;
		case 't':
			seconds = atof(optarg);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'd':
			dev = optarg;
			break;
		default:
			fprintf(stderr, "usage: stress [-p PROCS] [-t SECONDS] [-s SEED] [-d DEV]\n");
			return 2;
		}
	}
	if (procs < 1 || procs > 64 || seconds <= 0)
		return fprintf(stderr, "stress: bad -p or -t\n"), 2;
	if (!seed) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_sec * 1000003u + (uint64_t)ts.tv_nsec;
	}
	bad_ptr = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bad_ptr == MAP_FAILED)
		return perror("mmap"), 2;
	printf("# stress: seed %" PRIu64 ", %d processes, %.0f s (replay: stress -p %d -t %.0f -s %" PRIu64 ")\n",
	       seed, procs, seconds, procs, seconds, seed);
	printf("1..%d\n", procs);
	fflush(stdout);
	for (i = 0; i < procs; i++) {
		pid_t pid = fork();

		if (pid < 0)
			return perror("fork"), 2;
		if (!pid)
			return worker(i, seed + (uint64_t)i, seconds);
	}
	for (i = 0; i < procs; i++) {
		int st;
		pid_t pid = wait(&st);

		if (pid < 0)
			break;
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			failed++;
			printf("not ok - a stress process failed (status 0x%x), see its line above\n", st);
		}
	}
	return failed ? 1 : 0;
}
