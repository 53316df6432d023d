// SPDX-License-Identifier: GPL-2.0
/*
 * ffwall: the /dev/ffwall misc device.
 *
 * Every ioctl checks CAP_NET_ADMIN before it looks at its argument.  The
 * misc core takes a reference on this module for every open file, so rmmod
 * is refused while /dev/ffwall is open.  read() and poll() deliver event
 * records (events.c); private_data is the file's ring, NULL when the file
 * was not opened for reading.  Each command copies its argument
 * in, validates all of it, then acts; user memory is never touched while a
 * lock is held, except by DUMP's buffer, which is filled in kernel memory
 * first.
 */
#include <linux/build_bug.h>
#include <linux/capability.h>
#include <linux/compat.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "ffwall.h"
#include "chardev.h"
#include "events.h"
#include "filter.h"
#include "hook.h"
#include "table.h"
#include "uapi/ffwall.h"

/* The ABI's layouts: fixed sizes, no implicit padding, same on 32 bits. */
static_assert(sizeof(struct ffwall_version) == 32);
static_assert(sizeof(struct ffwall_config) == 48);
static_assert(sizeof(struct ffwall_device) == 32);
static_assert(sizeof(struct ffwall_device_list) == 24);
static_assert(sizeof(struct ffwall_rule) == 48);
static_assert(sizeof(struct ffwall_batch) == 32);
static_assert(sizeof(struct ffwall_entry_info) == 72);
static_assert(sizeof(struct ffwall_lookup) == 112);
static_assert(sizeof(struct ffwall_flush) == 16);
static_assert(sizeof(struct ffwall_dump) == 48);
static_assert(sizeof(struct ffwall_stats) == 256);
static_assert(sizeof(struct ffwall_filter_load) == 72);
static_assert(sizeof(struct ffwall_filter_add) == 24);
static_assert(sizeof(struct ffwall_event) == 32);
static_assert(offsetof(struct ffwall_lookup, entry) == 40);
static_assert(offsetof(struct ffwall_rule, reserved) == 40);

#define FFWALL_FEATURES (FFWALL_FEAT_CONFIG | FFWALL_FEAT_ATTACH | FFWALL_FEAT_ADD_DEL | \
			 FFWALL_FEAT_LOOKUP | FFWALL_FEAT_FLUSH | FFWALL_FEAT_DUMP |	\
			 FFWALL_FEAT_STATS | FFWALL_FEAT_PORTS | FFWALL_FEAT_MONITOR |	\
			 FFWALL_FEAT_FLUSH_FLAGS | FFWALL_FEAT_FILTER | FFWALL_FEAT_EVENTS)

/* Most records LIST_DEVICES returns per call. */
#define FFWALL_LIST_MAX		4096

static struct ffwall_table *ffwall_cdev_table;
static int ffwall_cdev_prio;

static long ffwall_ioc_version(void __user *arg)
{
	struct ffwall_version v;

	memset(&v, 0, sizeof(v));
	v.abi_version = FFWALL_ABI_VERSION;
	v.features = FFWALL_FEATURES;
	strscpy(v.module_version, FFWALL_MODULE_VERSION, sizeof(v.module_version));
	if (copy_to_user(arg, &v, sizeof(v)))
		return -EFAULT;
	return 0;
}

static void ffwall_get_config(struct ffwall_config *c)
{
	struct ffwall_table *t = ffwall_cdev_table;

	memset(c, 0, sizeof(*c));
	c->max_entries = READ_ONCE(t->max_entries);
	c->mode = READ_ONCE(t->mode);
	c->gc_interval = READ_ONCE(t->gc_interval);
	c->hook_priority = ffwall_cdev_prio;
	c->filter_max_bytes = FFWALL_FILTER_MAX_BYTES;
}

static long ffwall_ioc_get_config(void __user *arg)
{
	struct ffwall_config c;

	ffwall_get_config(&c);
	if (copy_to_user(arg, &c, sizeof(c)))
		return -EFAULT;
	return 0;
}

static long ffwall_ioc_set_config(void __user *arg)
{
	const u32 known = FFWALL_CONFIG_MAX_ENTRIES | FFWALL_CONFIG_MODE |
			  FFWALL_CONFIG_GC_INTERVAL;
	struct ffwall_table *t = ffwall_cdev_table;
	struct ffwall_config c;
	int err;

	if (copy_from_user(&c, arg, sizeof(c)))
		return -EFAULT;
	if ((c.set_mask & ~known) || c.reserved[0] || c.reserved[1])
		return -EINVAL;
	if ((c.set_mask & FFWALL_CONFIG_MAX_ENTRIES) &&
	    (c.max_entries < FFWALL_MAX_ENTRIES_MIN || c.max_entries > FFWALL_MAX_ENTRIES_MAX))
		return -EINVAL;
	if ((c.set_mask & FFWALL_CONFIG_MODE) && c.mode > FFWALL_MODE_MONITOR)
		return -EINVAL;
	if ((c.set_mask & FFWALL_CONFIG_GC_INTERVAL) &&
	    (c.gc_interval < FFWALL_GC_INTERVAL_MIN || c.gc_interval > FFWALL_GC_INTERVAL_MAX))
		return -EINVAL;

	/* The only change that can fail goes first: all or nothing. */
	if (c.set_mask & FFWALL_CONFIG_MAX_ENTRIES) {
		err = ffwall_table_set_max(t, c.max_entries);
		if (err)
			return err;
	}
	if (c.set_mask & FFWALL_CONFIG_MODE)
		WRITE_ONCE(t->mode, c.mode);
	if (c.set_mask & FFWALL_CONFIG_GC_INTERVAL)
		ffwall_table_set_gc_interval(t, c.gc_interval);
	return 0;
}

static int ffwall_get_device(void __user *arg, struct ffwall_device *d)
{
	if (copy_from_user(d, arg, sizeof(*d)))
		return -EFAULT;
	if (d->ifindex || d->flags || d->reserved)
		return -EINVAL;
	if (!d->name[0] || strnlen(d->name, sizeof(d->name)) == sizeof(d->name))
		return -EINVAL;
	if (strcmp(d->name, "*") && !dev_valid_name(d->name))
		return -EINVAL;
	return 0;
}

static long ffwall_ioc_attach(void __user *arg, bool attach)
{
	struct ffwall_device d;
	int err;

	err = ffwall_get_device(arg, &d);
	if (err)
		return err;
	return attach ? ffwall_hook_attach(d.name) : ffwall_hook_detach(d.name);
}

static long ffwall_ioc_list_devices(void __user *arg)
{
	struct ffwall_device *buf = NULL;
	struct ffwall_device_list l;
	u32 cap, count;
	long err = 0;

	if (copy_from_user(&l, arg, sizeof(l)))
		return -EFAULT;
	if (l.reserved)
		return -EINVAL;
	cap = min_t(u32, l.capacity, FFWALL_LIST_MAX);
	if (cap) {
		buf = kvcalloc(cap, sizeof(*buf), GFP_KERNEL);
		if (!buf)
			return -ENOMEM;
	}
	ffwall_hook_list(buf, cap, &count);
	if (count && cap &&
	    copy_to_user(u64_to_user_ptr(l.devices), buf, min(count, cap) * sizeof(*buf)))
		err = -EFAULT;
	l.count = count;
	if (!err && copy_to_user(arg, &l, sizeof(l)))
		err = -EFAULT;
	kvfree(buf);
	return err;
}

/* ADD and DEL: copy the whole batch, validate all of it, then apply. */
static long ffwall_ioc_batch(void __user *arg, bool del)
{
	struct ffwall_table *t = ffwall_cdev_table;
	struct ffwall_rule *recs = NULL;
	struct ffwall_batch b;
	void *parsed = NULL;
	long err = 0;
	u32 i;

	if (copy_from_user(&b, arg, sizeof(b)))
		return -EFAULT;
	b.applied = 0;
	b.changed = 0;
	b.bad_index = U32_MAX;
	if (b.flags || b.record_size != sizeof(struct ffwall_rule) ||
	    b.count > FFWALL_BATCH_MAX) {
		err = -EINVAL;
		goto out;
	}
	if (!b.count)
		goto out;

	recs = kvmalloc_array(b.count, sizeof(*recs), GFP_KERNEL);
	parsed = kvmalloc_array(b.count, del ? sizeof(struct ffwall_key) :
				sizeof(struct ffwall_add), GFP_KERNEL);
	if (!recs || !parsed) {
		err = -ENOMEM;
		goto out;
	}
	if (copy_from_user(recs, u64_to_user_ptr(b.records), b.count * sizeof(*recs))) {
		err = -EFAULT;
		goto out;
	}
	for (i = 0; i < b.count; i++) {
		if (del)
			err = ffwall_table_parse_del(&recs[i], (struct ffwall_key *)parsed + i);
		else
			err = ffwall_table_parse_rule(&recs[i], (struct ffwall_add *)parsed + i);
		if (err) {
			b.bad_index = i;
			goto out;
		}
	}
	if (del)
		err = ffwall_table_del(t, parsed, b.count, &b.applied, &b.changed);
	else
		err = ffwall_table_add(t, parsed, b.count, &b.applied, &b.changed);
out:
	kvfree(parsed);
	kvfree(recs);
	if (copy_to_user(arg, &b, sizeof(b)))
		return -EFAULT;
	return err;
}

static long ffwall_ioc_lookup(void __user *arg)
{
	struct ffwall_table *t = ffwall_cdev_table;
	struct ffwall_entry_info *info;
	struct ffwall_lookup l;
	struct ffwall_key key;
	unsigned int i;
	bool hit;
	u32 now;

	if (copy_from_user(&l, arg, sizeof(l)))
		return -EFAULT;
	if (l.reserved0 || (l.flags & ~FFWALL_LOOKUP_F_PORT) ||
	    (!(l.flags & FFWALL_LOOKUP_F_PORT) && l.port))
		return -EINVAL;

	memcpy(&key, l.addr, sizeof(key));
	info = &l.entry;
	hit = ffwall_table_info(t, &key, info, &now);
	l.now = now;
	l.match = hit ? FFWALL_MATCH_EXACT : FFWALL_MATCH_NONE;
	l.verdict = FFWALL_VERDICT_PASS;
	if (hit) {
		if (!info->rule.nports) {
			l.verdict = FFWALL_VERDICT_DROP;
		} else if (!(l.flags & FFWALL_LOOKUP_F_PORT)) {
			l.verdict = FFWALL_VERDICT_PORTS;
		} else {
			for (i = 0; i < info->rule.nports; i++)
				if (info->rule.ports[i] == l.port)
					l.verdict = FFWALL_VERDICT_DROP;
		}
		if (l.verdict != FFWALL_VERDICT_PASS &&
		    ((info->rule.flags & FFWALL_F_MONITOR) ||
		     READ_ONCE(t->mode) == FFWALL_MODE_MONITOR))
			l.verdict = FFWALL_VERDICT_MONITOR;
	}
	if (copy_to_user(arg, &l, sizeof(l)))
		return -EFAULT;
	return 0;
}

static long ffwall_ioc_flush(void __user *arg)
{
	struct ffwall_flush f;
	u64 removed = 0;
	long err = 0;

	if (copy_from_user(&f, arg, sizeof(f)))
		return -EFAULT;
	if (!f.scope || (f.scope & ~FFWALL_FLUSH_ALL) || f.reserved0 ||
	    (f.with_flags & ~(FFWALL_F_PINNED | FFWALL_F_MONITOR)))
		return -EINVAL;
	/* Prefixes and the allowlist are empty until they exist. */
	if (f.scope & FFWALL_FLUSH_EXACT)
		err = ffwall_table_flush(ffwall_cdev_table, f.with_flags, &removed);
	if (err)
		return err;
	f.removed = removed;
	if (copy_to_user(arg, &f, sizeof(f)))
		return -EFAULT;
	return 0;
}

static long ffwall_ioc_dump(void __user *arg)
{
	struct ffwall_entry_info *buf;
	struct ffwall_dump d;
	u64 cursor;
	long err = 0;
	u32 max, n;

	if (copy_from_user(&d, arg, sizeof(d)))
		return -EFAULT;
	if (d.capacity < FFWALL_DUMP_MIN || d.record_size != sizeof(*buf) ||
	    d.flags || d.reserved)
		return -EINVAL;
	max = min_t(u32, d.capacity, FFWALL_DUMP_MAX);
	buf = kvmalloc_array(max, sizeof(*buf), GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	cursor = d.cursor;
	n = ffwall_table_dump(ffwall_cdev_table, buf, max, &cursor, d.hit_since);
	/* On EFAULT the cursor is not written back: the caller can retry. */
	if (n && copy_to_user(u64_to_user_ptr(d.records), buf, n * sizeof(*buf))) {
		err = -EFAULT;
		goto out;
	}
	d.count = n;
	d.cursor = cursor;
	if (copy_to_user(arg, &d, sizeof(d)))
		err = -EFAULT;
out:
	kvfree(buf);
	return err;
}

static long ffwall_ioc_stats(void __user *arg)
{
	struct ffwall_table *t = ffwall_cdev_table;
	struct ffwall_table_stats ts;
	struct ffwall_hook_stats hs;
	struct ffwall_filter_stats fs;
	struct ffwall_stats s;

	ffwall_table_get_stats(t, &ts);
	ffwall_hook_get_stats(&hs);
	ffwall_filter_get_stats(&fs);
	memset(&s, 0, sizeof(s));
	s.now = ffwall_table_now(t);
	s.packets_seen = hs.seen;
	s.packets_not_ip = hs.not_ip;
	s.dropped_exact = hs.dropped_exact;
	s.dropped_ports = hs.dropped_ports;
	s.monitor_hits = hs.monitor_hits;
	s.hook_errors = hs.hook_errors;
	s.entries = ts.entries;
	s.pinned = ts.pinned;
	s.buckets = ts.buckets;
	s.portsets = ts.portsets;
	s.inserted = ts.inserted;
	s.deleted = ts.deleted;
	s.evicted = ts.evicted;
	s.expired = ts.expired;
	s.resizes = ts.resizes;
	s.bytes = ts.bytes;
	s.entry_size = ts.entry_size;
	s.filter_probes = fs.probes;
	s.filter_hits = fs.hits;
	s.events_lost = ffwall_events_lost();
	if (copy_to_user(arg, &s, sizeof(s)))
		return -EFAULT;
	return 0;
}

static long ffwall_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	if (!capable(CAP_NET_ADMIN))
		return -EPERM;

	switch (cmd) {
	case FFWALL_IOC_VERSION:
		return ffwall_ioc_version(uarg);
	case FFWALL_IOC_GET_CONFIG:
		return ffwall_ioc_get_config(uarg);
	case FFWALL_IOC_SET_CONFIG:
		return ffwall_ioc_set_config(uarg);
	case FFWALL_IOC_ATTACH:
		return ffwall_ioc_attach(uarg, true);
	case FFWALL_IOC_DETACH:
		return ffwall_ioc_attach(uarg, false);
	case FFWALL_IOC_LIST_DEVICES:
		return ffwall_ioc_list_devices(uarg);
	case FFWALL_IOC_ADD:
		return ffwall_ioc_batch(uarg, false);
	case FFWALL_IOC_DEL:
		return ffwall_ioc_batch(uarg, true);
	case FFWALL_IOC_LOOKUP:
		return ffwall_ioc_lookup(uarg);
	case FFWALL_IOC_FLUSH:
		return ffwall_ioc_flush(uarg);
	case FFWALL_IOC_DUMP:
		return ffwall_ioc_dump(uarg);
	case FFWALL_IOC_STATS:
		return ffwall_ioc_stats(uarg);
	case FFWALL_IOC_FILTER_LOAD:
		return ffwall_filter_ioc_load(uarg);
	case FFWALL_IOC_FILTER_ADD:
		return ffwall_filter_ioc_add(uarg);
	default:
		/* Including ALLOW_*, declared but not implemented yet. */
		return -ENOTTY;
	}
}

/*
 * A file opened for reading gets its own event ring (events.c); one opened
 * write-only is for ioctls only and gets none.
 */
static int ffwall_open(struct inode *inode, struct file *file)
{
	struct ffwall_ev_reader *r = NULL;
	int err;

	err = stream_open(inode, file);
	if (err)
		return err;
	if (file->f_mode & FMODE_READ) {
		r = ffwall_events_open();
		if (IS_ERR(r))
			return PTR_ERR(r);
	}
	file->private_data = r;
	return 0;
}

static int ffwall_release(struct inode *inode, struct file *file)
{
	if (file->private_data)
		ffwall_events_release(file->private_data);
	return 0;
}

static ssize_t ffwall_read(struct file *file, char __user *buf, size_t len,
			   loff_t *ppos)
{
	/* Events name banned hosts: as private as the ioctls.  The opener's
	 * credentials decide, so a descriptor passed to a privileged helper
	 * cannot be used to read them.
	 */
	if (!file_ns_capable(file, &init_user_ns, CAP_NET_ADMIN))
		return -EPERM;
	return ffwall_events_read(file->private_data, buf, len,
				  file->f_flags & O_NONBLOCK);
}

static __poll_t ffwall_poll(struct file *file, poll_table *wait)
{
	if (!file->private_data)
		return EPOLLERR;
	return ffwall_events_poll(file->private_data, file, wait);
}

static const struct file_operations ffwall_fops = {
	.owner		= THIS_MODULE,
	.open		= ffwall_open,
	.release	= ffwall_release,
	.read		= ffwall_read,
	.poll		= ffwall_poll,
	.unlocked_ioctl	= ffwall_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

static struct miscdevice ffwall_miscdev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= FFWALL_DEVICE_NAME,
	.fops	= &ffwall_fops,
	.mode	= 0600,
};

int ffwall_chardev_init(struct ffwall_table *t, int hook_priority)
{
	ffwall_cdev_table = t;
	ffwall_cdev_prio = hook_priority;
	return misc_register(&ffwall_miscdev);
}

void ffwall_chardev_exit(void)
{
	misc_deregister(&ffwall_miscdev);
}
