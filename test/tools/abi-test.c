// SPDX-License-Identifier: MIT
/*
 * abi-test: exercise every ioctl of /dev/ffwall with good and bad input and
 * print TAP.  Run as root with ffwall.ko loaded and an empty table; it leaves
 * the table empty and the configuration as it found it.
 *
 * Covers: ENOTTY for unknown and not-yet-implemented commands, EFAULT for
 * bad pointers, EINVAL for non-zero reserved fields and flags, bad sizes and
 * oversized batches, a batch with one bad record (EINVAL, its index, nothing
 * applied), the applied count of a batch stopped by ENOSPC, and EPERM for a
 * caller without CAP_NET_ADMIN.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "uapi/ffwall.h"

static int fd;
static int n_tests, n_failed;
static void *const BAD = (void *)(uintptr_t)8;	/* never mapped */

static void check(int cond, const char *fmt, ...)
{
	va_list ap;

	n_tests++;
	printf("%sok %d - ", cond ? "" : "not ", n_tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		n_failed++;
	fflush(stdout);
}

/* The ioctl fails with @err (0: succeeds). */
static void expect(unsigned long req, void *arg, int err, const char *what)
{
	int r = ioctl(fd, req, arg);
	int got = r ? errno : 0;

	check(got == err, "%s: %s (got %s)", what, err ? strerror(err) : "success",
	      got ? strerror(got) : "success");
}

static void v4(uint8_t a[16], uint32_t host)
{
	memset(a, 0, 16);
	a[10] = 0xff;
	a[11] = 0xff;
	a[12] = host >> 24;
	a[13] = host >> 16;
	a[14] = host >> 8;
	a[15] = host;
}

static struct ffwall_rule rule(uint32_t host)
{
	struct ffwall_rule r;

	memset(&r, 0, sizeof(r));
	v4(r.addr, host);
	r.prefix_len = 128;
	return r;
}

static struct ffwall_batch batch(struct ffwall_rule *r, uint32_t n)
{
	struct ffwall_batch b;

	memset(&b, 0, sizeof(b));
	b.records = (uintptr_t)r;
	b.count = n;
	b.record_size = sizeof(*r);
	return b;
}

static uint64_t stat_entries(void)
{
	struct ffwall_stats s;

	if (ioctl(fd, FFWALL_IOC_STATS, &s))
		return UINT64_MAX;
	return s.entries;
}

static uint32_t lookup_verdict(uint32_t host)
{
	struct ffwall_lookup l;

	memset(&l, 0, sizeof(l));
	v4(l.addr, host);
	if (ioctl(fd, FFWALL_IOC_LOOKUP, &l))
		return UINT32_MAX;
	return l.verdict;
}

/* Every feature bit this header defines. */
#define FFWALL_FEAT_KNOWN ((FFWALL_FEAT_STATS_MEM << 1) - 1)

/* The module's feature bits, from VERSION. */
static uint64_t features;

static void test_version(void)
{
	struct ffwall_version v;

	memset(&v, 0xaa, sizeof(v));
	expect(FFWALL_IOC_VERSION, &v, 0, "VERSION");
	check(v.abi_version == FFWALL_ABI_VERSION, "VERSION: abi_version %u", v.abi_version);
	check(v.reserved0 == 0, "VERSION: reserved0 zeroed");
	features = v.features;
	check((v.features & FFWALL_FEAT_ADD_DEL) && !(v.features & ~FFWALL_FEAT_KNOWN),
	      "VERSION: features 0x%llx, issue-3 set, no unknown bit",
	      (unsigned long long)v.features);
	expect(FFWALL_IOC_VERSION, BAD, EFAULT, "VERSION with a bad pointer");
}

static void test_enotty(void)
{
	struct ffwall_batch b = batch(NULL, 0);
	struct ffwall_dump d;
	struct ffwall_filter_load fl;
	struct ffwall_filter_add fa;
	char buf[64] = { 0 };

	memset(&d, 0, sizeof(d));
	memset(&fl, 0, sizeof(fl));
	memset(&fa, 0, sizeof(fa));
	expect(_IOR(FFWALL_IOC_MAGIC, 0x7f, struct ffwall_version), buf, ENOTTY,
	       "an unknown command number");
	expect(_IOR(FFWALL_IOC_MAGIC, 0x00, char[64]), buf, ENOTTY,
	       "VERSION encoded with another size");
	expect(_IO(FFWALL_IOC_MAGIC, 0x00), buf, ENOTTY, "VERSION encoded without direction");
	/*
	 * A command whose feature bit is clear answers ENOTTY; a set bit is
	 * covered by that feature's own suite, and here the same command must
	 * not answer ENOTTY.
	 */
	expect(FFWALL_IOC_ALLOW_ADD, &b, features & FFWALL_FEAT_ALLOW ? 0 : ENOTTY,
	       "ALLOW_ADD of an empty batch agrees with FEAT_ALLOW");
	expect(FFWALL_IOC_ALLOW_DEL, &b, features & FFWALL_FEAT_ALLOW ? 0 : ENOTTY,
	       "ALLOW_DEL of an empty batch agrees with FEAT_ALLOW");
	expect(FFWALL_IOC_ALLOW_DUMP, &d, features & FFWALL_FEAT_ALLOW ? EINVAL : ENOTTY,
	       "ALLOW_DUMP with capacity 0 agrees with FEAT_ALLOW");
	expect(FFWALL_IOC_FILTER_LOAD, &fl, features & FFWALL_FEAT_FILTER ? EINVAL : ENOTTY,
	       "FILTER_LOAD of size 0 agrees with FEAT_FILTER");
	expect(FFWALL_IOC_FILTER_ADD, &fa, features & FFWALL_FEAT_FILTER ? ENOENT : ENOTTY,
	       "FILTER_ADD without a filter agrees with FEAT_FILTER");
}

static void test_config(void)
{
	struct ffwall_config c, orig, got;

	expect(FFWALL_IOC_GET_CONFIG, &orig, 0, "GET_CONFIG");
	expect(FFWALL_IOC_GET_CONFIG, BAD, EFAULT, "GET_CONFIG with a bad pointer");
	expect(FFWALL_IOC_SET_CONFIG, BAD, EFAULT, "SET_CONFIG with a bad pointer");

	memset(&c, 0, sizeof(c));
	c.set_mask = 1U << 7;
	expect(FFWALL_IOC_SET_CONFIG, &c, EINVAL, "SET_CONFIG with an unknown set_mask bit");
	memset(&c, 0, sizeof(c));
	c.reserved[1] = 1;
	expect(FFWALL_IOC_SET_CONFIG, &c, EINVAL, "SET_CONFIG with non-zero reserved");
	memset(&c, 0, sizeof(c));
	c.set_mask = FFWALL_CONFIG_MAX_ENTRIES;
	expect(FFWALL_IOC_SET_CONFIG, &c, EINVAL, "SET_CONFIG max_entries=0");
	c.max_entries = FFWALL_MAX_ENTRIES_MAX + 1;
	expect(FFWALL_IOC_SET_CONFIG, &c, EINVAL, "SET_CONFIG max_entries above the limit");
	memset(&c, 0, sizeof(c));
	c.set_mask = FFWALL_CONFIG_MODE;
	c.mode = 2;
	expect(FFWALL_IOC_SET_CONFIG, &c, EINVAL, "SET_CONFIG mode=2");
	memset(&c, 0, sizeof(c));
	c.set_mask = FFWALL_CONFIG_GC_INTERVAL | FFWALL_CONFIG_MAX_ENTRIES;
	c.max_entries = 1234;
	c.gc_interval = 0;
	expect(FFWALL_IOC_SET_CONFIG, &c, EINVAL, "SET_CONFIG gc_interval=0 with a valid max");
	expect(FFWALL_IOC_GET_CONFIG, &got, 0, "GET_CONFIG again");
	check(got.max_entries == orig.max_entries, "a refused SET_CONFIG changed nothing");

	c.gc_interval = 7;
	expect(FFWALL_IOC_SET_CONFIG, &c, 0, "SET_CONFIG max_entries=1234 gc_interval=7");
	expect(FFWALL_IOC_GET_CONFIG, &got, 0, "GET_CONFIG");
	check(got.max_entries == 1234 && got.gc_interval == 7 && !got.set_mask &&
	      !got.reserved[0] && !got.reserved[1], "GET_CONFIG reads back the new values");
	orig.set_mask = FFWALL_CONFIG_MAX_ENTRIES | FFWALL_CONFIG_GC_INTERVAL |
			FFWALL_CONFIG_MODE;
	expect(FFWALL_IOC_SET_CONFIG, &orig, 0, "SET_CONFIG restores the configuration");
}

static void test_devices(void)
{
	struct ffwall_device_list l;
	struct ffwall_device d, out[4];

	memset(&d, 0, sizeof(d));
	expect(FFWALL_IOC_ATTACH, &d, EINVAL, "ATTACH with an empty name");
	memset(d.name, 'a', sizeof(d.name));
	expect(FFWALL_IOC_ATTACH, &d, EINVAL, "ATTACH with an unterminated name");
	memset(&d, 0, sizeof(d));
	strcpy(d.name, "a/b");
	expect(FFWALL_IOC_ATTACH, &d, EINVAL, "ATTACH with an invalid name");
	strcpy(d.name, "abitest0");
	d.ifindex = 1;
	expect(FFWALL_IOC_ATTACH, &d, EINVAL, "ATTACH with non-zero ifindex");
	d.ifindex = 0;
	d.flags = 1;
	expect(FFWALL_IOC_ATTACH, &d, EINVAL, "ATTACH with non-zero flags");
	d.flags = 0;
	d.reserved = 1;
	expect(FFWALL_IOC_ATTACH, &d, EINVAL, "ATTACH with non-zero reserved");
	d.reserved = 0;
	expect(FFWALL_IOC_ATTACH, BAD, EFAULT, "ATTACH with a bad pointer");
	expect(FFWALL_IOC_DETACH, &d, ENOENT, "DETACH of a name not in the list");
	expect(FFWALL_IOC_ATTACH, &d, 0, "ATTACH of a device that does not exist yet");
	expect(FFWALL_IOC_ATTACH, &d, 0, "ATTACH of the same name again");

	memset(&l, 0, sizeof(l));
	l.devices = (uintptr_t)out;
	l.capacity = 4;
	l.reserved = 1;
	expect(FFWALL_IOC_LIST_DEVICES, &l, EINVAL, "LIST_DEVICES with non-zero reserved");
	l.reserved = 0;
	expect(FFWALL_IOC_LIST_DEVICES, &l, 0, "LIST_DEVICES");
	check(l.count == 1 && !strcmp(out[0].name, "abitest0") &&
	      out[0].flags == FFWALL_DEV_NAMED && !out[0].ifindex,
	      "LIST_DEVICES: the name, not hooked");
	l.capacity = 0;
	expect(FFWALL_IOC_LIST_DEVICES, &l, 0, "LIST_DEVICES with capacity 0");
	check(l.count == 1, "LIST_DEVICES with capacity 0 reports the count");
	l.devices = (uintptr_t)BAD;
	l.capacity = 4;
	expect(FFWALL_IOC_LIST_DEVICES, &l, EFAULT, "LIST_DEVICES with a bad array");
	expect(FFWALL_IOC_LIST_DEVICES, BAD, EFAULT, "LIST_DEVICES with a bad pointer");
	expect(FFWALL_IOC_DETACH, &d, 0, "DETACH");
	expect(FFWALL_IOC_DETACH, BAD, EFAULT, "DETACH with a bad pointer");
}

static void test_batches(void)
{
	struct ffwall_rule r[10], *big;
	struct ffwall_batch b;
	struct ffwall_config c;
	struct ffwall_flush f;
	unsigned int i;
	char what[96];
	int e;

	for (i = 0; i < 10; i++)
		r[i] = rule(0x0a630000 + i);

	b = batch(r, 10);
	b.record_size = sizeof(r[0]) - 8;
	expect(FFWALL_IOC_ADD, &b, EINVAL, "ADD with a wrong record_size");
	b = batch(r, 10);
	b.flags = 1;
	expect(FFWALL_IOC_ADD, &b, EINVAL, "ADD with non-zero flags");
	b = batch(r, FFWALL_BATCH_MAX + 1);
	expect(FFWALL_IOC_ADD, &b, EINVAL, "ADD of FFWALL_BATCH_MAX + 1 records");
	b = batch(BAD, 10);
	expect(FFWALL_IOC_ADD, &b, EFAULT, "ADD with a bad records pointer");
	expect(FFWALL_IOC_ADD, BAD, EFAULT, "ADD with a bad pointer");
	b = batch(r, 0);
	expect(FFWALL_IOC_ADD, &b, 0, "ADD of 0 records");
	check(b.applied == 0 && b.bad_index == 0xffffffffU, "an empty batch applies nothing");

	/* One bad record anywhere: EINVAL, its index, nothing applied. */
	{
		static const char *const names[] = {
			"non-zero reserved", "unknown flag", "nports 9", "a zero port",
			"a port beyond nports", "ttl above FFWALL_TTL_MAX", "prefix_len 129",
		};

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			struct ffwall_rule bad[10];

			memcpy(bad, r, sizeof(bad));
			switch (i) {
			case 0: bad[7].reserved = 1; break;
			case 1: bad[7].flags = 0x80; break;
			case 2: bad[7].nports = 9; break;
			case 3: bad[7].nports = 2; bad[7].ports[0] = 25; break;
			case 4: bad[7].nports = 1; bad[7].ports[0] = 25; bad[7].ports[3] = 9; break;
			case 5: bad[7].ttl = FFWALL_TTL_MAX + 1; break;
			case 6: bad[7].prefix_len = 129; break;
			}
			b = batch(bad, 10);
			snprintf(what, sizeof(what), "ADD batch whose record 7 has %s", names[i]);
			expect(FFWALL_IOC_ADD, &b, EINVAL, what);
			check(b.bad_index == 7 && b.applied == 0, "  bad_index 7, applied 0 (%s; got %u, %u)",
			      names[i], b.bad_index, b.applied);
		}
		check(stat_entries() == 0 && lookup_verdict(0x0a630000) == FFWALL_VERDICT_PASS,
		      "after the rejected batches nothing was added");
	}
	{
		struct ffwall_rule bad[10];

		memcpy(bad, r, sizeof(bad));
		bad[3].prefix_len = 120;
		b = batch(bad, 10);
		if (features & FFWALL_FEAT_PREFIX)
			expect(FFWALL_IOC_ADD, &b, EINVAL,
			       "ADD batch with a prefix whose host bits are set");
		else
			expect(FFWALL_IOC_ADD, &b, EOPNOTSUPP,
			       "ADD batch with a prefix (no FEAT_PREFIX)");
		check(b.bad_index == 3 && b.applied == 0, "  bad_index 3, applied 0");
	}

	b = batch(r, 10);
	expect(FFWALL_IOC_ADD, &b, 0, "ADD of 10 valid records");
	check(b.applied == 10 && b.changed == 10 && stat_entries() == 10,
	      "  applied 10, created 10 (changed %u)", b.changed);
	b = batch(r, 10);
	expect(FFWALL_IOC_ADD, &b, 0, "the same 10 records again");
	check(b.applied == 10 && b.changed == 0 && stat_entries() == 10, "  all 10 were updates");

	/* DEL validation and semantics. */
	b = batch(r, 10);
	b.record_size = 1;
	expect(FFWALL_IOC_DEL, &b, EINVAL, "DEL with a wrong record_size");
	b = batch(r, FFWALL_BATCH_MAX + 1);
	expect(FFWALL_IOC_DEL, &b, EINVAL, "DEL of FFWALL_BATCH_MAX + 1 records");
	b = batch(BAD, 2);
	expect(FFWALL_IOC_DEL, &b, EFAULT, "DEL with a bad records pointer");
	{
		struct ffwall_rule bad[10];

		memcpy(bad, r, sizeof(bad));
		bad[9].reserved = 5;
		b = batch(bad, 10);
		expect(FFWALL_IOC_DEL, &b, EINVAL, "DEL batch whose last record has non-zero reserved");
		check(b.bad_index == 9 && b.applied == 0 && stat_entries() == 10,
		      "  bad_index 9, nothing deleted");
	}
	b = batch(r, 5);
	expect(FFWALL_IOC_DEL, &b, 0, "DEL of 5 records");
	check(b.applied == 5 && b.changed == 5 && stat_entries() == 5, "  5 removed");
	b = batch(r, 5);
	expect(FFWALL_IOC_DEL, &b, 0, "DEL of the same 5 again");
	check(b.applied == 5 && b.changed == 0, "  none found");

	/* ENOSPC while applying: the applied count is exact. */
	memset(&f, 0, sizeof(f));
	f.scope = FFWALL_FLUSH_ALL;
	expect(FFWALL_IOC_FLUSH, &f, 0, "FLUSH");
	check(f.removed == 5 && stat_entries() == 0, "  removed 5");
	memset(&c, 0, sizeof(c));
	c.set_mask = FFWALL_CONFIG_MAX_ENTRIES;
	c.max_entries = 5;
	expect(FFWALL_IOC_SET_CONFIG, &c, 0, "SET_CONFIG max_entries=5");
	for (i = 0; i < 10; i++)
		r[i].flags = FFWALL_F_PINNED;
	b = batch(r, 4);
	expect(FFWALL_IOC_ADD, &b, 0, "ADD of 4 pinned records");
	b = batch(r + 4, 6);
	expect(FFWALL_IOC_ADD, &b, ENOSPC, "ADD of 6 more pinned records into a cap of 5");
	check(b.applied == 1 && b.bad_index == 0xffffffffU && stat_entries() == 5,
	      "  applied exactly 1 (got %u)", b.applied);
	check(lookup_verdict(0x0a630004) == FFWALL_VERDICT_DROP &&
	      lookup_verdict(0x0a630005) == FFWALL_VERDICT_PASS,
	      "  the applied record is in effect, the next one is not");
	c.max_entries = 4;
	expect(FFWALL_IOC_SET_CONFIG, &c, ENOSPC, "SET_CONFIG below the pinned count");

	/* The largest batch, its last record bad: the whole batch is refused. */
	big = calloc(FFWALL_BATCH_MAX, sizeof(*big));
	if (big) {
		for (i = 0; i < FFWALL_BATCH_MAX; i++)
			big[i] = rule(0x0b000000 + i);
		big[FFWALL_BATCH_MAX - 1].reserved = 1;
		b = batch(big, FFWALL_BATCH_MAX);
		e = ioctl(fd, FFWALL_IOC_ADD, &b) ? errno : 0;
		check(e == EINVAL && b.bad_index == FFWALL_BATCH_MAX - 1 && b.applied == 0 &&
		      stat_entries() == 5,
		      "ADD of FFWALL_BATCH_MAX records, the last one bad: EINVAL, nothing applied");
		free(big);
	}

	c.max_entries = 1U << 20;
	f.scope = FFWALL_FLUSH_EXACT;
	f.with_flags = FFWALL_F_PINNED;
	expect(FFWALL_IOC_FLUSH, &f, 0, "FLUSH of the pinned entries only");
	check(f.removed == 5 && stat_entries() == 0, "  removed 5");
	expect(FFWALL_IOC_SET_CONFIG, &c, 0, "SET_CONFIG max_entries=1M");
}

static void test_lookup_flush_dump(void)
{
	struct ffwall_entry_info recs[16];
	struct ffwall_lookup l;
	struct ffwall_flush f;
	struct ffwall_dump d;
	struct ffwall_rule r[3];
	struct ffwall_batch b;

	memset(&l, 0, sizeof(l));
	l.reserved0 = 1;
	expect(FFWALL_IOC_LOOKUP, &l, EINVAL, "LOOKUP with non-zero reserved0");
	memset(&l, 0, sizeof(l));
	l.flags = 2;
	expect(FFWALL_IOC_LOOKUP, &l, EINVAL, "LOOKUP with an unknown flag");
	memset(&l, 0, sizeof(l));
	l.port = 25;
	expect(FFWALL_IOC_LOOKUP, &l, EINVAL, "LOOKUP with a port but no FFWALL_LOOKUP_F_PORT");
	expect(FFWALL_IOC_LOOKUP, BAD, EFAULT, "LOOKUP with a bad pointer");

	r[0] = rule(0x0a640001);
	r[1] = rule(0x0a640002);
	r[1].nports = 2;
	r[1].ports[0] = 587;
	r[1].ports[1] = 25;
	r[1].ttl = 1000;
	r[2] = rule(0x0a640003);
	r[2].flags = FFWALL_F_MONITOR;
	b = batch(r, 3);
	expect(FFWALL_IOC_ADD, &b, 0, "ADD of 3 entries");
	memset(&l, 0, sizeof(l));
	v4(l.addr, 0x0a640002);
	expect(FFWALL_IOC_LOOKUP, &l, 0, "LOOKUP of a port-scoped entry");
	check(l.match == FFWALL_MATCH_EXACT && l.verdict == FFWALL_VERDICT_PORTS &&
	      l.entry.rule.nports == 2 && l.entry.rule.ports[0] == 25 &&
	      l.entry.rule.ports[1] == 587 && l.entry.expires > l.now &&
	      l.entry.rule.ttl > 990 && l.entry.rule.ttl <= 1000 && !l.entry.rule.reserved,
	      "  exact match, verdict PORTS, sorted ports, expiry ahead");
	l.flags = FFWALL_LOOKUP_F_PORT;
	l.port = 587;
	expect(FFWALL_IOC_LOOKUP, &l, 0, "LOOKUP with port 587");
	check(l.verdict == FFWALL_VERDICT_DROP, "  verdict DROP");
	l.port = 80;
	expect(FFWALL_IOC_LOOKUP, &l, 0, "LOOKUP with port 80");
	check(l.verdict == FFWALL_VERDICT_PASS && l.match == FFWALL_MATCH_EXACT, "  verdict PASS");
	check(lookup_verdict(0x0a640003) == FFWALL_VERDICT_MONITOR, "LOOKUP of a monitor entry");

	memset(&f, 0, sizeof(f));
	expect(FFWALL_IOC_FLUSH, &f, EINVAL, "FLUSH with an empty scope");
	f.scope = 8;
	expect(FFWALL_IOC_FLUSH, &f, EINVAL, "FLUSH with an unknown scope bit");
	f.scope = FFWALL_FLUSH_EXACT;
	f.reserved0 = 1;
	expect(FFWALL_IOC_FLUSH, &f, EINVAL, "FLUSH with non-zero reserved0");
	f.reserved0 = 0;
	f.with_flags = 0x10;
	expect(FFWALL_IOC_FLUSH, &f, EINVAL, "FLUSH with an unknown with_flags bit");
	expect(FFWALL_IOC_FLUSH, BAD, EFAULT, "FLUSH with a bad pointer");

	memset(&d, 0, sizeof(d));
	d.records = (uintptr_t)recs;
	d.capacity = FFWALL_DUMP_MIN - 1;
	d.record_size = sizeof(recs[0]);
	expect(FFWALL_IOC_DUMP, &d, EINVAL, "DUMP with capacity below FFWALL_DUMP_MIN");
	d.capacity = 16;
	d.record_size = 64;
	expect(FFWALL_IOC_DUMP, &d, EINVAL, "DUMP with a wrong record_size");
	d.record_size = sizeof(recs[0]);
	d.flags = 1;
	expect(FFWALL_IOC_DUMP, &d, EINVAL, "DUMP with non-zero flags");
	d.flags = 0;
	d.reserved = 1;
	expect(FFWALL_IOC_DUMP, &d, EINVAL, "DUMP with non-zero reserved");
	d.reserved = 0;
	d.records = (uintptr_t)BAD;
	expect(FFWALL_IOC_DUMP, &d, EFAULT, "DUMP with a bad records pointer");
	check(d.cursor == 0, "  the cursor is not advanced on EFAULT");
	expect(FFWALL_IOC_DUMP, BAD, EFAULT, "DUMP with a bad pointer");
	d.records = (uintptr_t)recs;
	expect(FFWALL_IOC_DUMP, &d, 0, "DUMP");
	check(d.count == 3 && d.cursor == FFWALL_DUMP_END, "  3 records, cursor at the end");
	d.cursor = 0;
	d.hit_since = 1;
	expect(FFWALL_IOC_DUMP, &d, 0, "DUMP with hit_since");
	check(d.count == 0 && d.cursor == FFWALL_DUMP_END, "  no entry was hit: 0 records");

	f.with_flags = 0;
	f.scope = FFWALL_FLUSH_ALL;
	expect(FFWALL_IOC_FLUSH, &f, 0, "FLUSH of everything");
	check(f.removed == 3 && stat_entries() == 0, "  removed 3");
}

static void test_stats(void)
{
	struct ffwall_stats s;

	struct ffwall_stats after;
	struct ffwall_rule r;
	struct ffwall_batch b;

	memset(&s, 0xaa, sizeof(s));
	expect(FFWALL_IOC_STATS, &s, 0, "STATS");
	check(s.now > 0 && s.entry_size >= 40 && s.buckets >= 16 &&
	      !s.reserved[0] && !s.reserved[1] && !s.reserved[2] && !s.reserved[3],
	      "STATS: now %llu, entry_size %llu, buckets %llu, reserved zero",
	      (unsigned long long)s.now, (unsigned long long)s.entry_size,
	      (unsigned long long)s.buckets);
	expect(FFWALL_IOC_STATS, BAD, EFAULT, "STATS with a bad pointer");
	if (!(features & FFWALL_FEAT_STATS_MEM)) {
		check(!s.prefix_bytes && !s.allow_bytes && !s.filter_bytes,
		      "STATS memory fields are zero without FEAT_STATS_MEM");
		return;
	}
	/* Both sets keep a bucket array, loaded or not; no filter is loaded here. */
	check(s.prefix_bytes >= 4096 && s.allow_bytes >= 4096 && !s.filter_bytes,
	      "STATS: prefix_bytes %llu, allow_bytes %llu, filter_bytes %llu",
	      (unsigned long long)s.prefix_bytes, (unsigned long long)s.allow_bytes,
	      (unsigned long long)s.filter_bytes);
	r = rule(0xc6336400);	/* 198.51.100.0/24 */
	r.prefix_len = 96 + 24;
	b = batch(&r, 1);
	expect(FFWALL_IOC_ADD, &b, 0, "ADD of a prefix");
	expect(FFWALL_IOC_STATS, &after, 0, "STATS after it");
	check(after.prefix_bytes > s.prefix_bytes && after.allow_bytes == s.allow_bytes &&
	      after.bytes == s.bytes,
	      "  a prefix counts in prefix_bytes alone (%llu -> %llu)",
	      (unsigned long long)s.prefix_bytes, (unsigned long long)after.prefix_bytes);
	b = batch(&r, 1);
	expect(FFWALL_IOC_ALLOW_ADD, &b, 0, "ALLOW_ADD of the same prefix");
	expect(FFWALL_IOC_STATS, &s, 0, "STATS after it");
	check(s.allow_bytes > after.allow_bytes, "  an allowlist entry counts in allow_bytes (%llu -> %llu)",
	      (unsigned long long)after.allow_bytes, (unsigned long long)s.allow_bytes);
	b = batch(&r, 1);
	expect(FFWALL_IOC_ALLOW_DEL, &b, 0, "ALLOW_DEL of it");
	b = batch(&r, 1);
	expect(FFWALL_IOC_DEL, &b, 0, "DEL of the prefix");
}

static uint64_t stat_buckets(void)
{
	struct ffwall_stats s;

	if (ioctl(fd, FFWALL_IOC_STATS, &s))
		return UINT64_MAX;
	return s.buckets;
}

/* RESERVE: the hash grown at once, within max_entries; never a limit. */
static void test_reserve(void)
{
	struct ffwall_config orig, c;
	struct ffwall_reserve r;
	uint64_t before, want;

	memset(&r, 0, sizeof(r));
	if (!(features & FFWALL_FEAT_RESERVE)) {
		expect(FFWALL_IOC_RESERVE, &r, ENOTTY, "RESERVE agrees with FEAT_RESERVE");
		return;
	}
	before = stat_buckets();
	expect(FFWALL_IOC_RESERVE, &r, 0, "RESERVE of 0 entries");
	check(r.buckets == before, "RESERVE of 0 changes nothing (%llu buckets, was %llu)",
	      (unsigned long long)r.buckets, (unsigned long long)before);
	r.reserved0 = 1;
	r.entries = 100000;
	expect(FFWALL_IOC_RESERVE, &r, EINVAL, "RESERVE with non-zero reserved0");
	check(stat_buckets() == before, "a refused RESERVE leaves the hash alone");
	expect(FFWALL_IOC_RESERVE, BAD, EFAULT, "RESERVE with a bad pointer");

	/* Within max_entries: 2048 buckets at most for a cap of 1234. */
	expect(FFWALL_IOC_GET_CONFIG, &orig, 0, "GET_CONFIG");
	c = orig;
	c.set_mask = FFWALL_CONFIG_MAX_ENTRIES;
	c.max_entries = 1234;
	expect(FFWALL_IOC_SET_CONFIG, &c, 0, "SET_CONFIG max_entries=1234");
	memset(&r, 0, sizeof(r));
	r.entries = 1000000;
	expect(FFWALL_IOC_RESERVE, &r, 0, "RESERVE of 1M under a cap of 1234");
	check(r.buckets <= 2048 && r.buckets == stat_buckets(),
	      "the hash stays within the cap: %llu buckets", (unsigned long long)r.buckets);
	orig.set_mask = FFWALL_CONFIG_MAX_ENTRIES;
	expect(FFWALL_IOC_SET_CONFIG, &orig, 0, "SET_CONFIG restores max_entries");

	/* Room for the entries there plus 100000: the next power of two. */
	want = 1;
	while (want < stat_entries() + 100000)
		want <<= 1;
	memset(&r, 0, sizeof(r));
	r.entries = 100000;
	expect(FFWALL_IOC_RESERVE, &r, 0, "RESERVE of 100000");
	check(r.buckets == want && stat_buckets() == want,
	      "RESERVE of 100000 grows the hash to %llu buckets (got %llu)",
	      (unsigned long long)want, (unsigned long long)r.buckets);
	memset(&r, 0, sizeof(r));
	r.entries = 10;
	expect(FFWALL_IOC_RESERVE, &r, 0, "RESERVE of 10 after it");
	check(r.buckets == want, "a smaller RESERVE never shrinks the hash");
}

/* A child without CAP_NET_ADMIN in its effective set gets EPERM. */
static void test_eperm(void)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
		struct __user_cap_data_struct d[2];
		struct ffwall_version v;
		struct ffwall_batch b = batch(NULL, 0);
		struct ffwall_reserve rs;
		int bad = 0;

		if (syscall(SYS_capget, &h, d))
			_exit(3);
		d[CAP_NET_ADMIN / 32].effective &= ~(1U << (CAP_NET_ADMIN % 32));
		if (syscall(SYS_capset, &h, d))
			_exit(3);
		if (ioctl(fd, FFWALL_IOC_VERSION, &v) != -1 || errno != EPERM)
			bad = 1;
		if (ioctl(fd, FFWALL_IOC_ADD, &b) != -1 || errno != EPERM)
			bad = 1;
		memset(&rs, 0, sizeof(rs));
		if (ioctl(fd, FFWALL_IOC_RESERVE, &rs) != -1 || errno != EPERM)
			bad = 1;
		if (ioctl(fd, _IO(FFWALL_IOC_MAGIC, 0x7f), NULL) != -1 || errno != EPERM)
			bad = 1;
		_exit(bad);
	}
	waitpid(pid, &status, 0);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "without CAP_NET_ADMIN every ioctl fails with EPERM (status %d)", status);
}

int main(void)
{
	fd = open("/dev/ffwall", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("Bail out! open /dev/ffwall: %s\n", strerror(errno));
		return 1;
	}
	test_version();
	test_enotty();
	test_config();
	test_devices();
	test_batches();
	test_lookup_flush_dump();
	test_stats();
	test_reserve();
	test_eperm();
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
