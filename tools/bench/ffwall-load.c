// SPDX-License-Identifier: MIT
/*
 * ffwall-load: load entries into /dev/ffwall from standard input, for the
 * benchmarks (bench/guest/memory.sh, bench/guest/drop.sh).
 *
 *   ffwall-load [ttl=SECONDS] < FILE
 *
 * One entry per line: ADDR (an exact IPv4 or IPv6 address) or ADDR/LEN (a
 * prefix; LEN counts in the family's own bits, 0..32 or 0..128).  Records go
 * to the module in FFWALL_IOC_ADD batches of FFWALL_BATCH_MAX.  Prints the
 * number of records that created an entry.  Exit status 0 on success, 1 on a
 * failed ioctl or a bad line (its number is printed), 2 on bad usage.
 *
 * ffwallctl (test/tools) adds one entry per call or a sequence of IPv4
 * addresses; the benchmarks need IPv6 addresses and prefixes by the million.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "uapi/ffwall.h"

/* Returns 0 and fills r, or -1 for a line that is not ADDR[/LEN]. */
static int parse_line(char *s, struct ffwall_rule *r)
{
	char *slash, *end;
	unsigned long len = 0;
	int has_len = 0;
	struct in_addr a4;

	s[strcspn(s, " \t\r\n")] = 0;
	slash = strchr(s, '/');
	if (slash) {
		*slash = 0;
		len = strtoul(slash + 1, &end, 10);
		if (*end || end == slash + 1)
			return -1;
		has_len = 1;
	}
	memset(r->addr, 0, sizeof(r->addr));
	if (inet_pton(AF_INET, s, &a4) == 1) {
		if (len > 32)
			return -1;
		r->addr[10] = 0xff;
		r->addr[11] = 0xff;
		memcpy(r->addr + 12, &a4, 4);
		r->prefix_len = has_len ? 96 + len : 128;
		return 0;
	}
	if (inet_pton(AF_INET6, s, r->addr) == 1) {
		if (len > 128)
			return -1;
		r->prefix_len = has_len ? len : 128;
		return 0;
	}
	return -1;
}

static int flush_batch(int fd, struct ffwall_rule *recs, uint32_t n, unsigned long long *created)
{
	struct ffwall_batch b;

	if (n == 0)
		return 0;
	memset(&b, 0, sizeof(b));
	b.records = (uintptr_t)recs;
	b.count = n;
	b.record_size = sizeof(*recs);
	if (ioctl(fd, FFWALL_IOC_ADD, &b)) {
		fprintf(stderr, "ffwall-load: ADD: %s (applied %u, bad_index %d)\n", strerror(errno), b.applied,
			(int)b.bad_index);
		return 1;
	}
	*created += b.changed;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long long created = 0, line = 0;
	struct ffwall_rule *recs;
	uint32_t ttl = 0, n = 0;
	char buf[256];
	int i, fd;

	for (i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "ttl=", 4)) {
			ttl = strtoul(argv[i] + 4, NULL, 10);
		} else {
			fprintf(stderr, "usage: ffwall-load [ttl=SECONDS] < FILE\n");
			return 2;
		}
	}
	fd = open("/dev/ffwall", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "ffwall-load: /dev/ffwall: %s\n", strerror(errno));
		return 1;
	}
	recs = calloc(FFWALL_BATCH_MAX, sizeof(*recs));
	if (!recs) {
		fprintf(stderr, "ffwall-load: out of memory\n");
		return 1;
	}
	while (fgets(buf, sizeof(buf), stdin)) {
		line++;
		if (buf[0] == '\n' || buf[0] == '#')
			continue;
		memset(&recs[n], 0, sizeof(recs[n]));
		if (parse_line(buf, &recs[n])) {
			fprintf(stderr, "ffwall-load: line %llu: not ADDR or ADDR/LEN\n", line);
			return 1;
		}
		recs[n].ttl = ttl;
		if (++n == FFWALL_BATCH_MAX) {
			if (flush_batch(fd, recs, n, &created))
				return 1;
			n = 0;
		}
	}
	if (flush_batch(fd, recs, n, &created))
		return 1;
	printf("%llu\n", created);
	free(recs);
	close(fd);
	return 0;
}
