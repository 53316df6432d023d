/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note OR MIT */
/*
 * ffwall: the ioctl interface of /dev/ffwall.
 *
 * This header is the only contract between ffwall.ko and userland.  It
 * declares every command of the product, including the ones a given module
 * does not implement yet: those fail with ENOTTY and their FFWALL_FEAT_* bit
 * is clear in FFWALL_IOC_VERSION.
 *
 * Rules that hold for every command (Documentation/driver-api/ioctl.rst):
 *  - structures use fixed-width types and have no implicit padding; their
 *    sizes are checked at build time by the module;
 *  - pointers travel as __u64 (a user address cast through uintptr_t), so
 *    32-bit processes on a 64-bit kernel use the same layout;
 *  - every field named reserved* and every undefined bit of a flags field
 *    must be zero on input, or the command fails with EINVAL; output
 *    structures have their reserved fields zeroed by the kernel;
 *  - every command requires CAP_NET_ADMIN (EPERM otherwise), checked before
 *    the argument is read;
 *  - a bad user pointer fails with EFAULT; an unknown command with ENOTTY.
 *
 * Addresses
 *   Every address is 16 bytes in network byte order.  IPv4 addresses are
 *   IPv4-mapped IPv6 addresses, ::ffff:a.b.c.d, so one table serves both
 *   families.  A prefix length is counted in that 128-bit space: an IPv4
 *   /n is prefix_len 96 + n; an exact address has prefix_len 128.
 *
 * Time
 *   Times are seconds of CLOCK_BOOTTIME (clock_gettime(CLOCK_BOOTTIME) in
 *   userland), as __u64.  0 means "never" (no expiry, never hit).  The
 *   kernel keeps them in whole seconds.
 *
 * Terms
 *   TTL 0     an entry added with ttl 0 never expires in the kernel.  With a
 *             TTL of n > 0 seconds the entry expires n seconds after the ADD;
 *             an expired entry is a miss at once (it no longer blocks, LOOKUP
 *             and DUMP no longer return it) and is reclaimed later.
 *   pinned    an entry with FFWALL_F_PINNED is never evicted by the capacity
 *             cap (max_entries).  It still expires if it has a TTL, and DEL
 *             and FLUSH still remove it.  A table whose entries are all
 *             pinned refuses further ADDs with ENOSPC.
 *   monitor   a matching packet is counted (monitor_hits, the entry's hits
 *             and last hit time) but passes.  Monitor is an entry flag
 *             (FFWALL_F_MONITOR) and a global mode (FFWALL_MODE_MONITOR)
 *             that applies to every entry.
 *   port-scoped entry
 *             an entry with nports > 0 blocks only TCP, UDP and SCTP traffic
 *             whose destination port is one of its ports; other traffic
 *             from the address passes.  Replies to this host's own
 *             outgoing connections go to a local ephemeral port and pass.
 */
#ifndef _UAPI_LINUX_FFWALL_H
#define _UAPI_LINUX_FFWALL_H

#include <linux/types.h>
#include <linux/ioctl.h>

/* Bumped on any incompatible change of this header. */
#define FFWALL_ABI_VERSION	1

#define FFWALL_DEVICE_NAME	"ffwall"

/* 0xFF is not in the kernel's ioctl-number registry; ffwall is out of tree. */
#define FFWALL_IOC_MAGIC	0xFF

/* Largest number of records in one ADD, DEL, ALLOW_ADD, ALLOW_DEL, FILTER_ADD. */
#define FFWALL_BATCH_MAX	65536
/* Most records one DUMP or ALLOW_DUMP call returns; capacity is clamped to it. */
#define FFWALL_DUMP_MAX		8192
/* Smallest capacity a DUMP or ALLOW_DUMP accepts. */
#define FFWALL_DUMP_MIN		8
/* Most destination ports of one entry. */
#define FFWALL_MAX_PORTS	8
/* Largest TTL, in seconds (about 68 years). */
#define FFWALL_TTL_MAX		0x7fffffffU
/* Range of max_entries. */
#define FFWALL_MAX_ENTRIES_MIN	1U
#define FFWALL_MAX_ENTRIES_MAX	(1U << 26)
/* Most distinct port sets in use at once (ADD fails with ENOSPC beyond). */
#define FFWALL_MAX_PORTSETS	1024
/* Most names in the attach list (ATTACH fails with ENOSPC beyond). */
#define FFWALL_MAX_ATTACH	256
/* Length of a device name, NUL included (IFNAMSIZ). */
#define FFWALL_IFNAMSIZ		16

/* Feature bits of struct ffwall_version.features: one per implemented group. */
#define FFWALL_FEAT_CONFIG	(1ULL << 0)	/* GET_CONFIG, SET_CONFIG */
#define FFWALL_FEAT_ATTACH	(1ULL << 1)	/* ATTACH, DETACH, LIST_DEVICES */
#define FFWALL_FEAT_ADD_DEL	(1ULL << 2)	/* ADD, DEL of exact entries */
#define FFWALL_FEAT_LOOKUP	(1ULL << 3)	/* LOOKUP */
#define FFWALL_FEAT_FLUSH	(1ULL << 4)	/* FLUSH */
#define FFWALL_FEAT_DUMP	(1ULL << 5)	/* DUMP, with hit_since */
#define FFWALL_FEAT_STATS	(1ULL << 6)	/* STATS */
#define FFWALL_FEAT_PORTS	(1ULL << 7)	/* port-scoped entries */
#define FFWALL_FEAT_MONITOR	(1ULL << 8)	/* FFWALL_F_MONITOR, FFWALL_MODE_MONITOR */
#define FFWALL_FEAT_PREFIX	(1ULL << 9)	/* prefix entries (prefix_len < 128) */
#define FFWALL_FEAT_ALLOW	(1ULL << 10)	/* ALLOW_ADD, ALLOW_DEL, ALLOW_DUMP */
#define FFWALL_FEAT_EVENTS	(1ULL << 11)	/* read() and poll() of event records */
#define FFWALL_FEAT_FILTER	(1ULL << 12)	/* FILTER_LOAD, FILTER_ADD */
#define FFWALL_FEAT_FLUSH_FLAGS	(1ULL << 13)	/* FLUSH with with_flags != 0 */
#define FFWALL_FEAT_RESERVE	(1ULL << 14)	/* RESERVE */
#define FFWALL_FEAT_STATS_MEM	(1ULL << 15)	/* STATS prefix_bytes, allow_bytes, filter_bytes */

/**
 * struct ffwall_version - FFWALL_IOC_VERSION result
 * @abi_version: FFWALL_ABI_VERSION of the running module.  Userland refuses a
 *	module whose ABI version it does not know.
 * @reserved0: zero.
 * @features: FFWALL_FEAT_* bits of what this module implements.
 * @module_version: the module's own version, "MAJOR.MINOR.PATCH", NUL-padded.
 *
 * Output only: the kernel fills every field, including the reserved ones.
 */
struct ffwall_version {
	__u32 abi_version;
	__u32 reserved0;
	__u64 features;
	char module_version[16];
};

/*
 * FFWALL_IOC_VERSION - report the ABI version and the feature bits.
 * Errors: EPERM, EFAULT.
 */
#define FFWALL_IOC_VERSION	_IOR(FFWALL_IOC_MAGIC, 0x00, struct ffwall_version)

/* ------------------------------------------------------------------------ */
/* Configuration */

/* struct ffwall_config.mode */
#define FFWALL_MODE_ENFORCE	0	/* matching packets are dropped */
#define FFWALL_MODE_MONITOR	1	/* every entry behaves as FFWALL_F_MONITOR */

/* struct ffwall_config.set_mask: the fields SET_CONFIG changes */
#define FFWALL_CONFIG_MAX_ENTRIES	(1U << 0)
#define FFWALL_CONFIG_MODE		(1U << 1)
#define FFWALL_CONFIG_GC_INTERVAL	(1U << 2)

/* Range of gc_interval, seconds. */
#define FFWALL_GC_INTERVAL_MIN	1U
#define FFWALL_GC_INTERVAL_MAX	3600U

/**
 * struct ffwall_config - FFWALL_IOC_GET_CONFIG / FFWALL_IOC_SET_CONFIG
 * @max_entries: capacity cap of the exact table (FFWALL_MAX_ENTRIES_MIN to
 *	FFWALL_MAX_ENTRIES_MAX).  Lowering it below the current number of
 *	entries evicts down to the new cap at once.
 * @mode: FFWALL_MODE_*.
 * @gc_interval: seconds between two passes of the expiry reclaimer.
 * @set_mask: SET_CONFIG: FFWALL_CONFIG_* bits of the fields to change; the
 *	other fields are ignored.  GET_CONFIG returns 0.
 * @hook_priority: read only: netfilter priority of the ingress hooks
 *	(module parameter hook_priority).
 * @max_prefixes: read only: limit of prefix entries (0 without FEAT_PREFIX).
 * @max_allow: read only: limit of allowlist entries (0 without FEAT_ALLOW).
 * @filter_max_bytes: read only: largest membership filter (0 without
 *	FEAT_FILTER).
 * @reserved: zero.
 */
struct ffwall_config {
	__u32 max_entries;
	__u32 mode;
	__u32 gc_interval;
	__u32 set_mask;
	__s32 hook_priority;
	__u32 max_prefixes;
	__u32 max_allow;
	__u32 filter_max_bytes;
	__u64 reserved[2];
};

/*
 * FFWALL_IOC_GET_CONFIG - read the configuration.
 * Errors: EPERM, EFAULT.
 *
 * FFWALL_IOC_SET_CONFIG - change the fields named in set_mask, all or none.
 * Errors: EPERM, EFAULT; EINVAL: unknown set_mask bit, non-zero reserved,
 *	a value out of range; ENOSPC: max_entries below the number of pinned
 *	entries (nothing changes).
 */
#define FFWALL_IOC_GET_CONFIG	_IOR(FFWALL_IOC_MAGIC, 0x01, struct ffwall_config)
#define FFWALL_IOC_SET_CONFIG	_IOW(FFWALL_IOC_MAGIC, 0x02, struct ffwall_config)

/* ------------------------------------------------------------------------ */
/* Devices */

/* struct ffwall_device.flags (output) */
#define FFWALL_DEV_NAMED	(1U << 0)	/* the name is in the attach list */
#define FFWALL_DEV_HOOKED	(1U << 1)	/* an ingress hook is on the device */

/**
 * struct ffwall_device - one device name
 * @name: NUL-terminated device name, or "*" for every device of the initial
 *	network namespace.
 * @ifindex: output: the device's ifindex when it exists, else 0.
 * @flags: output: FFWALL_DEV_*.  Zero on input.
 * @reserved: zero.
 */
struct ffwall_device {
	char name[FFWALL_IFNAMSIZ];
	__u32 ifindex;
	__u32 flags;
	__u64 reserved;
};

/**
 * struct ffwall_device_list - FFWALL_IOC_LIST_DEVICES
 * @devices: pointer to an array of @capacity struct ffwall_device.
 * @capacity: number of records the array holds.
 * @count: output: number of records the list has.  When it exceeds
 *	@capacity, only @capacity records were written: retry with more.
 * @reserved: zero.
 *
 * The list holds one record per name of the attach list ("*" included,
 * flags NAMED, HOOKED when the device exists and is hooked) and one per
 * device hooked only because of "*" (flags HOOKED).
 */
struct ffwall_device_list {
	__u64 devices;
	__u32 capacity;
	__u32 count;
	__u64 reserved;
};

/*
 * FFWALL_IOC_ATTACH - add a name to the attach list and hook the device of
 *	that name now if it exists, and whenever it appears later (also after
 *	a rename).  "*" hooks every device, present and future.  Attaching a
 *	name twice is not an error.  Only the initial network namespace.
 * Errors: EPERM, EFAULT; EINVAL: empty or unterminated name, non-zero
 *	ifindex, flags or reserved; ENOSPC: FFWALL_MAX_ATTACH names; ENOMEM, or
 *	the error of nf_register_net_hook() (the name stays out of the list).
 *
 * FFWALL_IOC_DETACH - remove a name from the attach list and unhook its
 *	device unless "*" still covers it.  Detaching "*" unhooks every device
 *	that is not named.
 * Errors: EPERM, EFAULT, EINVAL as for ATTACH; ENOENT: not in the list.
 *
 * FFWALL_IOC_LIST_DEVICES - see struct ffwall_device_list.
 * Errors: EPERM, EFAULT; EINVAL: non-zero reserved.
 */
#define FFWALL_IOC_ATTACH	_IOW(FFWALL_IOC_MAGIC, 0x03, struct ffwall_device)
#define FFWALL_IOC_DETACH	_IOW(FFWALL_IOC_MAGIC, 0x04, struct ffwall_device)
#define FFWALL_IOC_LIST_DEVICES	_IOWR(FFWALL_IOC_MAGIC, 0x05, struct ffwall_device_list)

/* ------------------------------------------------------------------------ */
/* Entries */

/* struct ffwall_rule.flags */
#define FFWALL_F_PINNED		(1U << 0)	/* never evicted by the cap */
#define FFWALL_F_MONITOR	(1U << 1)	/* count and pass */

/**
 * struct ffwall_rule - one record of ADD, DEL, ALLOW_ADD, ALLOW_DEL
 * @addr: the address, see "Addresses" above.
 * @prefix_len: 128 for an exact address; 0..127 for a prefix
 *	(FFWALL_FEAT_PREFIX).  Address bits beyond the prefix must be zero.
 * @nports: 0 for the whole address, 1..FFWALL_MAX_PORTS for a port-scoped
 *	entry.
 * @flags: FFWALL_F_*.
 * @ttl: seconds until the entry expires; 0: never (see TTL 0 above).  At
 *	most FFWALL_TTL_MAX.
 * @ports: destination ports, host byte order: ports[0..nports) are non-zero
 *	(duplicates are merged), ports[nports..] are zero.
 * @reserved: zero.
 *
 * ADD of an address that already has an entry replaces that entry's ports,
 * flags and TTL (counted from this ADD) and keeps its hit count.
 * DEL looks only at @addr, @prefix_len and @reserved.
 * The allowlist takes neither ports, flags nor TTL: they must be zero.
 */
struct ffwall_rule {
	__u8 addr[16];
	__u8 prefix_len;
	__u8 nports;
	__u16 flags;
	__u32 ttl;
	__u16 ports[FFWALL_MAX_PORTS];
	__u64 reserved;
};

/**
 * struct ffwall_batch - FFWALL_IOC_ADD, DEL, ALLOW_ADD, ALLOW_DEL
 * @records: pointer to an array of @count struct ffwall_rule.
 * @count: number of records, at most FFWALL_BATCH_MAX (0 is a no-op).
 * @record_size: sizeof(struct ffwall_rule); anything else fails with EINVAL.
 * @flags: zero.
 * @applied: output: number of records applied, always a prefix of the array.
 * @bad_index: output: index of the rejected record, or 0xffffffff.
 * @changed: output: ADD: records that created an entry (the others updated
 *	one); DEL: records that removed an entry (the others found none).
 *
 * The whole batch is validated before anything is applied: an invalid
 * record fails the command with EINVAL (EOPNOTSUPP for a valid record this
 * module cannot hold, e.g. a prefix without FFWALL_FEAT_PREFIX), sets
 * @bad_index to its index, and nothing changes (@applied is 0).  An error
 * that can only appear while applying (ENOMEM, ENOSPC) stops the batch:
 * records [0, @applied) are in effect, the others are not.  The structure
 * is written back in every case except EPERM, EFAULT on it, ENOTTY.
 *
 * Errors: EPERM, EFAULT; EINVAL: non-zero flags or reserved fields, bad
 *	record_size, count above FFWALL_BATCH_MAX, an invalid record;
 *	EOPNOTSUPP: see above; ENOMEM; ENOSPC: ADD into a full table whose
 *	entries are all pinned, or FFWALL_MAX_PORTSETS distinct port sets in
 *	use, or ADD of a new prefix into a full prefix set (max_prefixes;
 *	ALLOW_ADD: max_allow); prefixes are never evicted; EEXIST (ADD
 *	only, FEAT_ALLOW): the whole address or prefix of record @bad_index
 *	lies inside one allowlist entry; checked for the whole batch before
 *	anything is applied, so @applied is 0 and nothing changes.  A prefix
 *	that only overlaps the allowlist is accepted (the allowlist still
 *	wins for the addresses it covers).
 */
struct ffwall_batch {
	__u64 records;
	__u32 count;
	__u32 record_size;
	__u32 flags;
	__u32 applied;
	__u32 bad_index;
	__u32 changed;
};

#define FFWALL_IOC_ADD		_IOWR(FFWALL_IOC_MAGIC, 0x06, struct ffwall_batch)
#define FFWALL_IOC_DEL		_IOWR(FFWALL_IOC_MAGIC, 0x07, struct ffwall_batch)

/**
 * struct ffwall_reserve - FFWALL_IOC_RESERVE (FFWALL_FEAT_RESERVE)
 * @entries: exact entries about to be added (a bulk load's size).
 * @reserved0: zero.
 * @buckets: output: buckets of the exact table's hash after the call.
 *
 * Grows the exact table's hash at once to hold the entries it has plus
 * @entries at a load factor of at most 1 (within max_entries and the
 * table's largest size), so that a bulk ADD does not double it step after
 * step: each doubling moves every entry and waits for an RCU grace period.
 * It never shrinks the hash and limits nothing: ADD works the same without
 * it.  The room is kept for 60 seconds, in which neither DEL nor the
 * reclaimer shrinks the hash; after them a table that holds less than an
 * eighth of its buckets shrinks as usual.  0 is a no-op.
 *
 * Errors: EPERM, EFAULT; EINVAL: non-zero reserved0; ENOMEM: the bigger
 *	array could not be allocated (the table is unchanged and works).
 */
struct ffwall_reserve {
	__u32 entries;
	__u32 reserved0;
	__u64 buckets;
};

#define FFWALL_IOC_RESERVE	_IOWR(FFWALL_IOC_MAGIC, 0x11, struct ffwall_reserve)

/**
 * struct ffwall_entry_info - one entry, as LOOKUP and DUMP return it
 * @rule: the entry; rule.ttl holds the seconds left (0: no expiry), and
 *	rule.ports is sorted.
 * @expires: absolute expiry (CLOCK_BOOTTIME seconds), 0: never.  The entry
 *	blocks while the kernel's time (struct ffwall_stats.now) is below it.
 * @last_hit: last time a packet matched (approximate), 0: never.
 * @hits: number of matching packets (approximate: the packet path counts
 *	without atomics; wraps at 2^32).
 * @kind: FFWALL_MATCH_* of the table holding the entry.
 */
struct ffwall_entry_info {
	struct ffwall_rule rule;
	__u64 expires;
	__u64 last_hit;
	__u32 hits;
	__u32 kind;
};

/* struct ffwall_lookup.verdict: what a packet from the address would get */
#define FFWALL_VERDICT_PASS	0
#define FFWALL_VERDICT_DROP	1
#define FFWALL_VERDICT_MONITOR	2	/* counted, passes */
#define FFWALL_VERDICT_PORTS	3	/* dropped only to the entry's ports */

/* struct ffwall_lookup.match, struct ffwall_entry_info.kind */
#define FFWALL_MATCH_NONE	0
#define FFWALL_MATCH_EXACT	1
#define FFWALL_MATCH_PREFIX	2
#define FFWALL_MATCH_ALLOW	3

/* struct ffwall_lookup.flags */
#define FFWALL_LOOKUP_F_PORT	(1U << 0)	/* judge a packet to @port */

/**
 * struct ffwall_lookup - FFWALL_IOC_LOOKUP
 * @addr: input: the source address to judge.
 * @port: input: with FFWALL_LOOKUP_F_PORT, the destination port of a TCP,
 *	UDP or SCTP packet to judge; else zero.
 * @flags: input: FFWALL_LOOKUP_F_*.
 * @reserved0: zero.
 * @verdict: output: FFWALL_VERDICT_*.  Without a port, a port-scoped entry
 *	gives FFWALL_VERDICT_PORTS; with one, DROP or PASS.  MONITOR replaces
 *	DROP and PORTS when the entry or the mode is monitor.
 * @match: output: FFWALL_MATCH_* of what decided the verdict; NONE when
 *	nothing matched or the entry has expired.  ALLOW is reported
 *	whenever the allowlist covers @addr, whether a ban matches or not
 *	(verdict PASS, @entry the allowlist entry); else EXACT; else PREFIX
 *	(the longest live prefix, which decides with its ports: no
 *	retry of a shorter prefix).
 * @now: output: the kernel's time, CLOCK_BOOTTIME seconds.
 * @entry: output: the entry that matched, zero when none.
 *
 * LOOKUP does not count as a hit.
 * Errors: EPERM, EFAULT; EINVAL: unknown flag, non-zero reserved0, a port
 *	without FFWALL_LOOKUP_F_PORT.
 */
struct ffwall_lookup {
	__u8 addr[16];
	__u16 port;
	__u16 flags;
	__u32 reserved0;
	__u32 verdict;
	__u32 match;
	__u64 now;
	struct ffwall_entry_info entry;
};

#define FFWALL_IOC_LOOKUP	_IOWR(FFWALL_IOC_MAGIC, 0x08, struct ffwall_lookup)

/* struct ffwall_flush.scope */
#define FFWALL_FLUSH_EXACT	(1U << 0)
#define FFWALL_FLUSH_PREFIX	(1U << 1)
#define FFWALL_FLUSH_ALLOW	(1U << 2)
#define FFWALL_FLUSH_ALL	(FFWALL_FLUSH_EXACT | FFWALL_FLUSH_PREFIX | FFWALL_FLUSH_ALLOW)

/**
 * struct ffwall_flush - FFWALL_IOC_FLUSH
 * @scope: non-empty set of FFWALL_FLUSH_* tables to clear.  Clearing a table
 *	this module does not implement is a no-op.
 * @with_flags: 0: remove every entry of @scope; else only the entries whose
 *	flags include all of these FFWALL_F_* bits (FFWALL_FEAT_FLUSH_FLAGS).
 * @reserved0: zero.
 * @removed: output: number of entries removed.
 *
 * A full flush swaps the table for an empty one and frees the old entries
 * after one RCU grace period.
 * Errors: EPERM, EFAULT; EINVAL: empty or unknown scope bits, unknown
 *	with_flags bits, non-zero reserved0; EOPNOTSUPP: with_flags without
 *	FFWALL_FEAT_FLUSH_FLAGS; ENOMEM.
 */
struct ffwall_flush {
	__u32 scope;
	__u16 with_flags;
	__u16 reserved0;
	__u64 removed;
};

#define FFWALL_IOC_FLUSH	_IOWR(FFWALL_IOC_MAGIC, 0x09, struct ffwall_flush)

/* struct ffwall_dump.cursor once the walk is complete */
#define FFWALL_DUMP_END		(~0ULL)

/**
 * struct ffwall_dump - FFWALL_IOC_DUMP, FFWALL_IOC_ALLOW_DUMP
 * @records: pointer to an array of @capacity struct ffwall_entry_info.
 * @capacity: records the array holds, at least FFWALL_DUMP_MIN; the kernel
 *	returns at most min(@capacity, FFWALL_DUMP_MAX) per call.
 * @record_size: sizeof(struct ffwall_entry_info), else EINVAL.
 * @cursor: input: 0 to start, else the value the previous call returned;
 *	output: where the next call resumes, FFWALL_DUMP_END when done.  The
 *	cursor is opaque to userland.
 * @hit_since: input: 0 for every entry, else only the entries with
 *	last_hit >= @hit_since (CLOCK_BOOTTIME seconds).
 * @count: output: records written.
 * @flags: zero.
 * @reserved: zero.
 *
 * DUMP walks three phases with one cursor: the exact entries, then the ban
 * prefixes, then the allowlist (@kind tells them apart); ALLOW_DUMP walks
 * the allowlist alone.  A cursor no call returned fails with EINVAL.
 * Guarantee under concurrent ADD, DEL, expiry, eviction and resize: every
 * entry present for the whole dump (from the call with cursor 0 to the call
 * returning FFWALL_DUMP_END) is returned exactly once; an entry added or
 * removed meanwhile is returned at most once.  Expired entries are skipped.
 * A call may return 0 records and a cursor other than FFWALL_DUMP_END.
 * Errors: EPERM, EFAULT; EINVAL: capacity below FFWALL_DUMP_MIN, bad
 *	record_size, non-zero flags or reserved, a cursor no call returned;
 *	ENOMEM.
 */
struct ffwall_dump {
	__u64 records;
	__u32 capacity;
	__u32 record_size;
	__u64 cursor;
	__u64 hit_since;
	__u32 count;
	__u32 flags;
	__u64 reserved;
};

#define FFWALL_IOC_DUMP		_IOWR(FFWALL_IOC_MAGIC, 0x0a, struct ffwall_dump)

/**
 * struct ffwall_stats - FFWALL_IOC_STATS (output only)
 * @now: the kernel's time, CLOCK_BOOTTIME seconds.
 * @packets_seen: packets that entered an ffwall hook.
 * @packets_not_ip: of those, neither IPv4 nor IPv6, or truncated.
 * @dropped_exact: dropped by a whole-address exact entry.
 * @dropped_ports: dropped by a port-scoped exact entry.
 * @dropped_prefix: dropped by a prefix entry, port-scoped or not.
 * @passed_allow: matched a ban but passed because of the allowlist.
 * @monitor_hits: matched and passed because of monitor.
 * @filter_probes: membership filter probes.
 * @filter_hits: probes that found the address in the filter.  MISS events
 *	are rate-limited per address, so fewer of them are raised.
 * @entries: exact entries, expired ones not yet reclaimed included.
 * @pinned: of those, pinned.
 * @buckets: buckets of the exact table.
 * @portsets: distinct port sets in use.
 * @inserted: entries created by ADD since load.
 * @deleted: entries removed by DEL and FLUSH since load.
 * @evicted: entries evicted by the capacity cap since load.
 * @expired: expired entries reclaimed since load.
 * @resizes: bucket array resizes since load.
 * @bytes: memory of the exact table: slab objects, bucket array, port sets.
 * @entry_size: size of one entry's slab object, in bytes.
 * @prefixes: prefix entries.
 * @allow_entries: allowlist entries.
 * @events_lost: event records lost to full rings.
 * @hook_errors: devices that could not be hooked.
 * @prefix_bytes: memory of the prefix table: its slab objects, bucket
 *	array and per-length summary (FFWALL_FEAT_STATS_MEM).
 * @allow_bytes: the same of the allowlist (FFWALL_FEAT_STATS_MEM).
 * @filter_bytes: size of the loaded membership filter, 0 without one
 *	(FFWALL_FEAT_STATS_MEM).  @bytes, @prefix_bytes, @allow_bytes and
 *	@filter_bytes add up to the module's memory for its tables, slab
 *	slack and the module's own code aside.
 * @reserved: zero.
 */
struct ffwall_stats {
	__u64 now;
	__u64 packets_seen;
	__u64 packets_not_ip;
	__u64 dropped_exact;
	__u64 dropped_ports;
	__u64 dropped_prefix;
	__u64 passed_allow;
	__u64 monitor_hits;
	__u64 filter_probes;
	__u64 filter_hits;
	__u64 entries;
	__u64 pinned;
	__u64 buckets;
	__u64 portsets;
	__u64 inserted;
	__u64 deleted;
	__u64 evicted;
	__u64 expired;
	__u64 resizes;
	__u64 bytes;
	__u64 entry_size;
	__u64 prefixes;
	__u64 allow_entries;
	__u64 events_lost;
	__u64 hook_errors;
	__u64 prefix_bytes;
	__u64 allow_bytes;
	__u64 filter_bytes;
	__u64 reserved[4];
};

/*
 * FFWALL_IOC_STATS - read the counters.  Packet counters are summed over the
 * CPUs without a lock: each is exact, their sum is a snapshot of no instant.
 * Errors: EPERM, EFAULT.
 */
#define FFWALL_IOC_STATS	_IOR(FFWALL_IOC_MAGIC, 0x0b, struct ffwall_stats)

/* ------------------------------------------------------------------------ */
/* The allowlist (FFWALL_FEAT_ALLOW) */

/*
 * FFWALL_IOC_ALLOW_ADD, FFWALL_IOC_ALLOW_DEL - batches of struct ffwall_rule
 *	(exact addresses and prefixes; nports, flags and ttl zero) with the
 *	semantics of ADD and DEL.  An allowlisted address always passes; the
 *	verdict order is allowlist, exact entry, longest prefix.
 * FFWALL_IOC_ALLOW_DUMP - struct ffwall_dump over the allowlist.
 * Errors: as ADD, DEL, DUMP.
 */
#define FFWALL_IOC_ALLOW_ADD	_IOWR(FFWALL_IOC_MAGIC, 0x0c, struct ffwall_batch)
#define FFWALL_IOC_ALLOW_DEL	_IOWR(FFWALL_IOC_MAGIC, 0x0d, struct ffwall_batch)
#define FFWALL_IOC_ALLOW_DUMP	_IOWR(FFWALL_IOC_MAGIC, 0x0e, struct ffwall_dump)

/* ------------------------------------------------------------------------ */
/* The membership filter (FFWALL_FEAT_FILTER) */

/* struct ffwall_filter_load.algorithm */
#define FFWALL_FILTER_BLOCKED_BLOOM	1
/* Size of one filter block, bytes: one cache line. */
#define FFWALL_FILTER_BLOCK_BYTES	64

/**
 * struct ffwall_filter_load - FFWALL_IOC_FILTER_LOAD
 * @data: pointer to the filter, @size bytes.
 * @size: bytes, a non-zero multiple of FFWALL_FILTER_BLOCK_BYTES, at most
 *	struct ffwall_config.filter_max_bytes.
 * @algorithm: FFWALL_FILTER_BLOCKED_BLOOM.
 * @nhashes: bits set per member, 1..16.
 * @seed: key of the hash (any value; userland picks it).
 * @members: number of members, for the statistics only.
 * @flags: zero.
 * @reserved: zero.
 *
 * FFWALL_FILTER_BLOCKED_BLOOM: h = SipHash-2-4 keyed with @seed (seed[0]
 * the first 8 key bytes, little-endian) over the 16 address bytes.  The
 * member lives in block (h >> 32) * nblocks >> 32, where nblocks = @size /
 * 64; with a = (__u32)h, b = ((h >> 32) | 1), bit i (0 <= i < @nhashes) of
 * the member is (a + i * b) mod 512 of that block, bit n of a block being
 * bit (n % 8) of its byte n / 8.  A reload replaces the filter atomically.
 * Errors: EPERM, EFAULT; EINVAL: size, algorithm, nhashes, flags, reserved;
 *	ENOMEM.
 */
struct ffwall_filter_load {
	__u64 data;
	__u64 size;
	__u32 algorithm;
	__u32 nhashes;
	__u64 seed[2];
	__u64 members;
	__u32 flags;
	__u32 reserved0;
	__u64 reserved[2];
};

/**
 * struct ffwall_filter_add - FFWALL_IOC_FILTER_ADD
 * @addrs: pointer to @count addresses of 16 bytes each.
 * @count: at most FFWALL_BATCH_MAX.
 * @flags: zero.
 * @reserved: zero.
 *
 * Adds members to the loaded filter.  Errors: EPERM, EFAULT; EINVAL: count,
 * flags, reserved; ENOENT: no filter loaded.
 */
struct ffwall_filter_add {
	__u64 addrs;
	__u32 count;
	__u32 flags;
	__u64 reserved;
};

#define FFWALL_IOC_FILTER_LOAD	_IOW(FFWALL_IOC_MAGIC, 0x0f, struct ffwall_filter_load)
#define FFWALL_IOC_FILTER_ADD	_IOW(FFWALL_IOC_MAGIC, 0x10, struct ffwall_filter_add)

/* ------------------------------------------------------------------------ */
/* Events (FFWALL_FEAT_EVENTS) */

#define FFWALL_EVENT_EVICTED	1	/* evicted by the cap; @value: its hits */
#define FFWALL_EVENT_EXPIRED	2	/* reclaimed after expiry; @value: hits */
#define FFWALL_EVENT_MISS	3	/* a flow start missed the table but hit
					 * the membership filter
					 */
#define FFWALL_EVENT_OVERFLOW	4	/* @value: records lost before this one;
					 * userland must reconcile
					 */

/**
 * struct ffwall_event - one record returned by read() on /dev/ffwall
 * @type: FFWALL_EVENT_*.
 * @prefix_len: prefix length of @addr (128: exact).
 * @flags: FFWALL_F_* of the entry (EVICTED, EXPIRED).
 * @value: see the types.
 * @time: when it happened, CLOCK_BOOTTIME seconds.
 * @addr: the address (zero for OVERFLOW).
 *
 * Each file opened for reading has its own ring, sized by the module
 * parameter event_ring_size (records); events raised while no file is open
 * are not kept.  read() returns whole records only (EINVAL for a buffer
 * smaller than one record), blocks unless O_NONBLOCK (EAGAIN), and poll()
 * reports EPOLLIN when a record is ready.  Reading needs CAP_NET_ADMIN in
 * the credentials that opened the file (EPERM).  A file opened write-only
 * has no ring: read() fails with EBADF and poll() reports EPOLLERR.
 *
 * Overflow is never silent: records that find a full ring are dropped and
 * counted, and at the gap, after the records already in the ring and
 * before any later one, the reader finds an OVERFLOW record whose @value
 * is the number lost (@prefix_len 128, @addr zero).  Userland must then
 * reconcile its view with DUMP.
 */
struct ffwall_event {
	__u16 type;
	__u8 prefix_len;
	__u8 flags;
	__u32 value;
	__u64 time;
	__u8 addr[16];
};

#endif /* _UAPI_LINUX_FFWALL_H */
