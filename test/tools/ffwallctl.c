// SPDX-License-Identifier: MIT
/*
 * ffwallctl: drive /dev/ffwall from shell tests.
 *
 *   ffwallctl version
 *   ffwallctl stats [FIELD]            all counters, or the value of one
 *   ffwallctl config [FIELD]
 *   ffwallctl set [max_entries=N] [mode=enforce|monitor] [gc_interval=N]
 *   ffwallctl attach NAME | detach NAME | devices
 *   ffwallctl add ADDR[/LEN] [ports=P,P..] [ttl=N] [pinned] [monitor]
 *   ffwallctl add-seq BASE4 COUNT [BATCH [reserve]]   COUNT addresses from
 *                                      BASE4 on (reserve: RESERVE COUNT first)
 *   ffwallctl reserve COUNT            RESERVE; prints the buckets after it
 *   ffwallctl del ADDR[/LEN]...
 *   ffwallctl lookup ADDR [port=N] [FIELD]
 *   ffwallctl allow add|del ADDR[/LEN]...
 *   ffwallctl allow dump [count]
 *   ffwallctl flush [exact] [prefix] [allow] [pinned] [monitor]
 *   ffwallctl dump [since=T] [count]   all phases: exact, prefixes, allowlist
 *
 * LEN is the IPv4 (0..32) or IPv6 (0..128) prefix length; without it the
 * address is exact.  flush without a scope clears all three tables.
 *
 * Exit status 0 on success; on failure the errno name is printed on stderr
 * and the status is 1 (2 for usage errors).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "uapi/ffwall.h"

static int fd = -1;

static void usage(void)
{
	fprintf(stderr, "usage: see the comment at the top of test/tools/ffwallctl.c\n");
	exit(2);
}

static int fail(const char *what)
{
	int e = errno;

	fprintf(stderr, "ffwallctl: %s: %s (errno %d)\n", what, strerror(e), e);
	return 1;
}

/* ADDR or ADDR/LEN; returns the prefix length in the 128-bit space. */
static unsigned int parse_addr(const char *arg, uint8_t out[16])
{
	char s[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned long len = 0;
	struct in_addr a4;
	int has_len = 0;

	snprintf(s, sizeof(s), "%s", arg);
	slash = strchr(s, '/');
	if (slash) {
		*slash = 0;
		len = strtoul(slash + 1, &end, 10);
		if (*end || end == slash + 1)
			goto bad;
		has_len = 1;
	}
	if (inet_pton(AF_INET, s, &a4) == 1) {
		if (len > 32)
			goto bad;
		memset(out, 0, 16);
		out[10] = 0xff;
		out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		return has_len ? 96 + len : 128;
	}
	if (inet_pton(AF_INET6, s, out) == 1 && len <= 128)
		return has_len ? len : 128;
bad:
	fprintf(stderr, "ffwallctl: bad address '%s'\n", arg);
	exit(2);
}

static void format_addr(const uint8_t a[16], char *buf, size_t len)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (!memcmp(a, mapped, 12))
		inet_ntop(AF_INET, a + 12, buf, len);
	else
		inet_ntop(AF_INET6, a, buf, len);
}

/* ADDR, or ADDR/LEN for a prefix (IPv4 lengths for ::ffff:0:0/96 inside). */
static void format_prefix(const uint8_t a[16], unsigned int plen, char *buf, size_t len)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	size_t n;

	format_addr(a, buf, len);
	if (plen == 128)
		return;
	n = strlen(buf);
	if (plen >= 96 && !memcmp(a, mapped, 12))
		snprintf(buf + n, len - n, "/%u", plen - 96);
	else
		snprintf(buf + n, len - n, "/%u", plen);
}

static const char *match_name(uint32_t m)
{
	switch (m) {
	case FFWALL_MATCH_NONE: return "none";
	case FFWALL_MATCH_EXACT: return "exact";
	case FFWALL_MATCH_PREFIX: return "prefix";
	case FFWALL_MATCH_ALLOW: return "allow";
	default: return "?";
	}
}

static int cmd_version(void)
{
	struct ffwall_version v;

	if (ioctl(fd, FFWALL_IOC_VERSION, &v))
		return fail("VERSION");
	printf("abi_version %u\nfeatures 0x%" PRIx64 "\nmodule_version %.16s\n",
	       v.abi_version, (uint64_t)v.features, v.module_version);
	return 0;
}

#define STAT(f) { #f, offsetof(struct ffwall_stats, f) }
static const struct {
	const char *name;
	size_t off;
} stat_fields[] = {
	STAT(now), STAT(packets_seen), STAT(packets_not_ip), STAT(dropped_exact),
	STAT(dropped_ports), STAT(dropped_prefix), STAT(passed_allow),
	STAT(monitor_hits), STAT(filter_probes), STAT(filter_hits), STAT(entries),
	STAT(pinned), STAT(buckets), STAT(portsets), STAT(inserted), STAT(deleted),
	STAT(evicted), STAT(expired), STAT(resizes), STAT(bytes), STAT(entry_size),
	STAT(prefixes), STAT(allow_entries), STAT(events_lost), STAT(hook_errors),
	STAT(prefix_bytes), STAT(allow_bytes), STAT(filter_bytes),
};

static int cmd_stats(const char *field)
{
	struct ffwall_stats s;
	size_t i;

	if (ioctl(fd, FFWALL_IOC_STATS, &s))
		return fail("STATS");
	for (i = 0; i < sizeof(stat_fields) / sizeof(stat_fields[0]); i++) {
		uint64_t v;

		memcpy(&v, (char *)&s + stat_fields[i].off, sizeof(v));
		if (!field)
			printf("%s %" PRIu64 "\n", stat_fields[i].name, v);
		else if (!strcmp(field, stat_fields[i].name)) {
			printf("%" PRIu64 "\n", v);
			return 0;
		}
	}
	if (field) {
		fprintf(stderr, "ffwallctl: no counter '%s'\n", field);
		return 2;
	}
	return 0;
}

static int cmd_config(const char *field)
{
	struct ffwall_config c;
	char buf[512];

	if (ioctl(fd, FFWALL_IOC_GET_CONFIG, &c))
		return fail("GET_CONFIG");
	snprintf(buf, sizeof(buf),
		 "max_entries %u\nmode %s\ngc_interval %u\nhook_priority %d\n",
		 c.max_entries, c.mode == FFWALL_MODE_MONITOR ? "monitor" : "enforce",
		 c.gc_interval, c.hook_priority);
	if (!field) {
		fputs(buf, stdout);
		return 0;
	}
	if (!strcmp(field, "max_entries"))
		printf("%u\n", c.max_entries);
	else if (!strcmp(field, "mode"))
		printf("%s\n", c.mode == FFWALL_MODE_MONITOR ? "monitor" : "enforce");
	else if (!strcmp(field, "gc_interval"))
		printf("%u\n", c.gc_interval);
	else if (!strcmp(field, "hook_priority"))
		printf("%d\n", c.hook_priority);
	else
		return 2;
	return 0;
}

static int cmd_set(int argc, char **argv)
{
	struct ffwall_config c;
	int i;

	memset(&c, 0, sizeof(c));
	for (i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "max_entries=", 12)) {
			c.max_entries = strtoul(argv[i] + 12, NULL, 0);
			c.set_mask |= FFWALL_CONFIG_MAX_ENTRIES;
		} else if (!strcmp(argv[i], "mode=monitor")) {
			c.mode = FFWALL_MODE_MONITOR;
			c.set_mask |= FFWALL_CONFIG_MODE;
		} else if (!strcmp(argv[i], "mode=enforce")) {
			c.mode = FFWALL_MODE_ENFORCE;
			c.set_mask |= FFWALL_CONFIG_MODE;
		} else if (!strncmp(argv[i], "gc_interval=", 12)) {
			c.gc_interval = strtoul(argv[i] + 12, NULL, 0);
			c.set_mask |= FFWALL_CONFIG_GC_INTERVAL;
		} else {
			usage();
		}
	}
	if (ioctl(fd, FFWALL_IOC_SET_CONFIG, &c))
		return fail("SET_CONFIG");
	return 0;
}

static int cmd_device(unsigned long req, const char *name, const char *what)
{
	struct ffwall_device d;

	memset(&d, 0, sizeof(d));
	snprintf(d.name, sizeof(d.name), "%s", name);
	if (ioctl(fd, req, &d))
		return fail(what);
	return 0;
}

static int cmd_devices(void)
{
	struct ffwall_device devs[256];
	struct ffwall_device_list l;
	uint32_t i;

	memset(&l, 0, sizeof(l));
	l.devices = (uintptr_t)devs;
	l.capacity = 256;
	if (ioctl(fd, FFWALL_IOC_LIST_DEVICES, &l))
		return fail("LIST_DEVICES");
	for (i = 0; i < l.count && i < l.capacity; i++)
		printf("%s ifindex=%u%s%s\n", devs[i].name, devs[i].ifindex,
		       devs[i].flags & FFWALL_DEV_NAMED ? " named" : "",
		       devs[i].flags & FFWALL_DEV_HOOKED ? " hooked" : "");
	return 0;
}

static int batch(unsigned long req, struct ffwall_rule *r, uint32_t n, const char *what)
{
	struct ffwall_batch b;

	memset(&b, 0, sizeof(b));
	b.records = (uintptr_t)r;
	b.count = n;
	b.record_size = sizeof(*r);
	if (ioctl(fd, req, &b)) {
		int e = errno;

		fprintf(stderr, "ffwallctl: %s: applied %u, bad_index %d\n", what, b.applied,
			(int)b.bad_index);
		errno = e;
		return fail(what);
	}
	return 0;
}

static int cmd_add(int argc, char **argv)
{
	struct ffwall_rule r;
	int i;

	if (argc < 1)
		usage();
	memset(&r, 0, sizeof(r));
	r.prefix_len = parse_addr(argv[0], r.addr);
	for (i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "ports=", 6)) {
			char *p = argv[i] + 6, *end;

			while (*p && r.nports < FFWALL_MAX_PORTS) {
				r.ports[r.nports++] = strtoul(p, &end, 10);
				p = *end == ',' ? end + 1 : end;
			}
		} else if (!strncmp(argv[i], "ttl=", 4)) {
			r.ttl = strtoul(argv[i] + 4, NULL, 0);
		} else if (!strcmp(argv[i], "pinned")) {
			r.flags |= FFWALL_F_PINNED;
		} else if (!strcmp(argv[i], "monitor")) {
			r.flags |= FFWALL_F_MONITOR;
		} else {
			usage();
		}
	}
	return batch(FFWALL_IOC_ADD, &r, 1, "ADD");
}

/* COUNT addresses BASE, BASE+1, ... (IPv4), BATCH per ioctl. */
/* RESERVE @count; prints the buckets after it when @print. */
static int reserve(uint32_t count, int print)
{
	struct ffwall_reserve r;

	memset(&r, 0, sizeof(r));
	r.entries = count;
	if (ioctl(fd, FFWALL_IOC_RESERVE, &r))
		return fail("RESERVE");
	if (print)
		printf("%llu\n", (unsigned long long)r.buckets);
	return 0;
}

static int cmd_add_seq(int argc, char **argv)
{
	uint32_t base, count, per, i, j;
	struct ffwall_rule *r;
	struct in_addr a4;
	int err = 0;

	if (argc < 2 || inet_pton(AF_INET, argv[0], &a4) != 1)
		usage();
	base = ntohl(a4.s_addr);
	count = strtoul(argv[1], NULL, 0);
	per = argc > 2 ? strtoul(argv[2], NULL, 0) : FFWALL_BATCH_MAX;
	if (argc > 3 && strcmp(argv[3], "reserve"))
		usage();
	if (argc > 3 && reserve(count, 0))
		return 1;
	r = calloc(per, sizeof(*r));
	if (!r)
		return fail("calloc");
	for (i = 0; i < count && !err; i += per) {
		uint32_t n = count - i < per ? count - i : per;

		for (j = 0; j < n; j++) {
			uint32_t a = htonl(base + i + j);

			memset(&r[j], 0, sizeof(r[j]));
			r[j].addr[10] = 0xff;
			r[j].addr[11] = 0xff;
			memcpy(r[j].addr + 12, &a, 4);
			r[j].prefix_len = 128;
		}
		err = batch(FFWALL_IOC_ADD, r, n, "ADD");
	}
	free(r);
	return err;
}

static int cmd_del(int argc, char **argv)
{
	struct ffwall_rule r;
	int i, err = 0;

	for (i = 0; i < argc && !err; i++) {
		memset(&r, 0, sizeof(r));
		r.prefix_len = parse_addr(argv[i], r.addr);
		err = batch(FFWALL_IOC_DEL, &r, 1, "DEL");
	}
	return err;
}

static const char *verdict_name(uint32_t v)
{
	switch (v) {
	case FFWALL_VERDICT_PASS: return "pass";
	case FFWALL_VERDICT_DROP: return "drop";
	case FFWALL_VERDICT_MONITOR: return "monitor";
	case FFWALL_VERDICT_PORTS: return "ports";
	default: return "?";
	}
}

static int cmd_lookup(int argc, char **argv)
{
	const char *field = NULL;
	struct ffwall_lookup l;
	char buf[256];
	int i;

	if (argc < 1)
		usage();
	memset(&l, 0, sizeof(l));
	parse_addr(argv[0], l.addr);
	for (i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "port=", 5)) {
			l.port = strtoul(argv[i] + 5, NULL, 0);
			l.flags |= FFWALL_LOOKUP_F_PORT;
		} else {
			field = argv[i];
		}
	}
	if (ioctl(fd, FFWALL_IOC_LOOKUP, &l))
		return fail("LOOKUP");
	snprintf(buf, sizeof(buf),
		 "verdict=%s match=%s now=%" PRIu64 " expires=%" PRIu64 " ttl=%u hits=%u last_hit=%" PRIu64
		 " nports=%u flags=%u prefix_len=%u",
		 verdict_name(l.verdict), match_name(l.match),
		 (uint64_t)l.now, (uint64_t)l.entry.expires, l.entry.rule.ttl, l.entry.hits,
		 (uint64_t)l.entry.last_hit, l.entry.rule.nports, l.entry.rule.flags,
		 l.entry.rule.prefix_len);
	if (!field) {
		puts(buf);
		return 0;
	}
	/* Print the value of one key=value pair. */
	{
		char key[64], *p;

		snprintf(key, sizeof(key), "%s=", field);
		p = strstr(buf, key);
		if (!p)
			return 2;
		p += strlen(key);
		printf("%.*s\n", (int)strcspn(p, " "), p);
	}
	return 0;
}

static int cmd_flush(int argc, char **argv)
{
	struct ffwall_flush f;
	int i;

	memset(&f, 0, sizeof(f));
	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "exact"))
			f.scope |= FFWALL_FLUSH_EXACT;
		else if (!strcmp(argv[i], "prefix"))
			f.scope |= FFWALL_FLUSH_PREFIX;
		else if (!strcmp(argv[i], "allow"))
			f.scope |= FFWALL_FLUSH_ALLOW;
		else if (!strcmp(argv[i], "pinned"))
			f.with_flags |= FFWALL_F_PINNED;
		else if (!strcmp(argv[i], "monitor"))
			f.with_flags |= FFWALL_F_MONITOR;
		else
			usage();
	}
	if (!f.scope)
		f.scope = FFWALL_FLUSH_ALL;
	if (ioctl(fd, FFWALL_IOC_FLUSH, &f))
		return fail("FLUSH");
	printf("%" PRIu64 "\n", (uint64_t)f.removed);
	return 0;
}

static int dump(unsigned long req, int argc, char **argv)
{
	static struct ffwall_entry_info recs[FFWALL_DUMP_MAX];
	struct ffwall_dump d;
	uint64_t total = 0;
	int count_only = 0, i;
	uint32_t k;
	char buf[80];

	memset(&d, 0, sizeof(d));
	for (i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "since=", 6))
			d.hit_since = strtoull(argv[i] + 6, NULL, 0);
		else if (!strcmp(argv[i], "count"))
			count_only = 1;
		else
			usage();
	}
	d.records = (uintptr_t)recs;
	d.capacity = FFWALL_DUMP_MAX;
	d.record_size = sizeof(recs[0]);
	do {
		if (ioctl(fd, req, &d))
			return fail("DUMP");
		total += d.count;
		for (k = 0; k < d.count && !count_only; k++) {
			format_prefix(recs[k].rule.addr, recs[k].rule.prefix_len, buf, sizeof(buf));
			printf("%s nports=%u flags=%u hits=%u last_hit=%" PRIu64 " expires=%" PRIu64
			       " kind=%s\n", buf, recs[k].rule.nports, recs[k].rule.flags,
			       recs[k].hits, (uint64_t)recs[k].last_hit, (uint64_t)recs[k].expires,
			       match_name(recs[k].kind));
		}
	} while (d.cursor != FFWALL_DUMP_END);
	if (count_only)
		printf("%" PRIu64 "\n", total);
	return 0;
}

static int cmd_allow(int argc, char **argv)
{
	struct ffwall_rule r;
	int i, del, err = 0;

	if (argc < 1)
		usage();
	if (!strcmp(argv[0], "dump"))
		return dump(FFWALL_IOC_ALLOW_DUMP, argc - 1, argv + 1);
	if (strcmp(argv[0], "add") && strcmp(argv[0], "del"))
		usage();
	del = !strcmp(argv[0], "del");
	for (i = 1; i < argc && !err; i++) {
		memset(&r, 0, sizeof(r));
		r.prefix_len = parse_addr(argv[i], r.addr);
		err = batch(del ? FFWALL_IOC_ALLOW_DEL : FFWALL_IOC_ALLOW_ADD, &r, 1,
			    del ? "ALLOW_DEL" : "ALLOW_ADD");
	}
	return err;
}

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2)
		usage();
	cmd = argv[1];
	fd = open("/dev/ffwall", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return fail("open /dev/ffwall");
	argc -= 2;
	argv += 2;
	if (!strcmp(cmd, "version"))
		return cmd_version();
	if (!strcmp(cmd, "stats"))
		return cmd_stats(argc ? argv[0] : NULL);
	if (!strcmp(cmd, "config"))
		return cmd_config(argc ? argv[0] : NULL);
	if (!strcmp(cmd, "set"))
		return cmd_set(argc, argv);
	if (!strcmp(cmd, "attach") && argc == 1)
		return cmd_device(FFWALL_IOC_ATTACH, argv[0], "ATTACH");
	if (!strcmp(cmd, "detach") && argc == 1)
		return cmd_device(FFWALL_IOC_DETACH, argv[0], "DETACH");
	if (!strcmp(cmd, "devices"))
		return cmd_devices();
	if (!strcmp(cmd, "add"))
		return cmd_add(argc, argv);
	if (!strcmp(cmd, "add-seq"))
		return cmd_add_seq(argc, argv);
	if (!strcmp(cmd, "reserve") && argc == 1)
		return reserve(strtoul(argv[0], NULL, 0), 1);
	if (!strcmp(cmd, "del"))
		return cmd_del(argc, argv);
	if (!strcmp(cmd, "lookup"))
		return cmd_lookup(argc, argv);
	if (!strcmp(cmd, "flush"))
		return cmd_flush(argc, argv);
	if (!strcmp(cmd, "dump"))
		return dump(FFWALL_IOC_DUMP, argc, argv);
	if (!strcmp(cmd, "allow"))
		return cmd_allow(argc, argv);
	usage();
	return 2;
}
