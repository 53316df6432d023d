// SPDX-License-Identifier: GPL-2.0
/*
 * ffwall: module init and exit.
 *
 * Subsystems are set up in order and torn down in reverse; a failure part
 * way through unwinds what was done with gotos.
 */
#include <linux/init.h>
#include <linux/module.h>

#include "ffwall.h"
#include "chardev.h"
#include "events.h"

static int __init ffwall_init(void)
{
	int err;

	/* Events first: everything after it may raise them. */
	err = ffwall_events_init();
	if (err)
		goto err_out;

	err = ffwall_chardev_init();
	if (err)
		goto err_events;

	pr_info("loaded, version %s\n", FFWALL_MODULE_VERSION);
	return 0;

err_events:
	ffwall_events_exit();
err_out:
	return err;
}

static void __exit ffwall_exit(void)
{
	ffwall_chardev_exit();
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
