// SPDX-License-Identifier: GPL-2.0
/*
 * ffwall: module init and exit, and the module parameters.
 *
 * Subsystems are set up in order and torn down in reverse; a failure part
 * way through unwinds what was done with gotos.  Order: the event rings
 * (everything after them may raise events), the entry and prefix caches,
 * the selftests (DEBUG), the membership filter, the table, the prefix sets
 * (ban prefixes and allowlist), the hooks,
 * /dev/ffwall last, so that userland never sees a half-built module.  The
 * filter is freed after the hooks are gone, since they probe it.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

#include "ffwall.h"
#include "chardev.h"
#include "events.h"
#include "filter.h"
#include "hook.h"
#include "prefix.h"
#include "table.h"

static unsigned int max_entries = 1U << 20;
module_param(max_entries, uint, 0444);
MODULE_PARM_DESC(max_entries, "Capacity cap of the exact table at load (default 1048576)");

static unsigned int gc_interval = 10;
module_param(gc_interval, uint, 0444);
MODULE_PARM_DESC(gc_interval, "Seconds between two passes of the expiry reclaimer (default 10)");

static char *devices = "";
module_param(devices, charp, 0444);
MODULE_PARM_DESC(devices, "Comma-separated devices to hook at load, \"*\" for all (default none)");

static int hook_priority = -300;
module_param(hook_priority, int, 0444);
MODULE_PARM_DESC(hook_priority, "Netfilter priority of the ingress hooks (default -300)");

static struct ffwall_table *ffwall_table;

static int __init ffwall_init(void)
{
	int err;

	if (max_entries < FFWALL_MAX_ENTRIES_MIN || max_entries > FFWALL_MAX_ENTRIES_MAX) {
		pr_err("max_entries=%u out of range %u..%u\n", max_entries,
		       FFWALL_MAX_ENTRIES_MIN, FFWALL_MAX_ENTRIES_MAX);
		return -EINVAL;
	}
	if (gc_interval < FFWALL_GC_INTERVAL_MIN || gc_interval > FFWALL_GC_INTERVAL_MAX) {
		pr_err("gc_interval=%u out of range %u..%u\n", gc_interval,
		       FFWALL_GC_INTERVAL_MIN, FFWALL_GC_INTERVAL_MAX);
		return -EINVAL;
	}

	err = ffwall_events_init();
	if (err)
		goto err_out;

	err = ffwall_table_module_init();
	if (err)
		goto err_events;
	err = ffwall_prefix_module_init();
	if (err)
		goto err_table_module;

#ifdef DEBUG
	err = ffwall_table_selftest();
	if (!err)
		err = ffwall_filter_selftest();
	if (!err)
		err = ffwall_prefix_selftest();
	if (err) {
		pr_err("selftests failed (%d): refusing to load\n", err);
		goto err_prefix_module;
	}
#endif

	err = ffwall_filter_init();
	if (err)
		goto err_prefix_module;

	ffwall_table = ffwall_table_create(max_entries, gc_interval);
	if (!ffwall_table) {
		err = -ENOMEM;
		goto err_filter;
	}
	err = ffwall_table_prefixes_init(ffwall_table, ffwall_max_prefixes, ffwall_max_allow);
	if (err)
		goto err_table;

	err = ffwall_hook_init(ffwall_table, devices, hook_priority);
	if (err)
		goto err_prefixes;

	err = ffwall_chardev_init(ffwall_table, hook_priority);
	if (err)
		goto err_hook;

	pr_info("loaded, version %s\n", FFWALL_MODULE_VERSION);
	return 0;

err_hook:
	ffwall_hook_exit();
err_prefixes:
	ffwall_table_prefixes_exit(ffwall_table);
err_table:
	ffwall_table_destroy(ffwall_table);
err_filter:
	ffwall_filter_exit();
err_prefix_module:
	ffwall_prefix_module_exit();
err_table_module:
	ffwall_table_module_exit();
err_events:
	ffwall_events_exit();
err_out:
	return err;
}

static void __exit ffwall_exit(void)
{
	ffwall_chardev_exit();
	ffwall_hook_exit();
	/* After the hooks, before the table: the ban set uses its port sets. */
	ffwall_table_prefixes_exit(ffwall_table);
	ffwall_table_destroy(ffwall_table);
	/* After the hooks: they probe the filter. */
	ffwall_filter_exit();
	ffwall_prefix_module_exit();
	ffwall_table_module_exit();
	/* Last: every raiser is gone, every file closed. */
	ffwall_events_exit();
	pr_info("unloaded\n");
}

module_init(ffwall_init);
module_exit(ffwall_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("The ffwall developers");
MODULE_DESCRIPTION("Kernel blocking firewall: an ingress ban cache with LRU eviction");
MODULE_VERSION(FFWALL_MODULE_VERSION);
