/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ffwall: netfilter netdev ingress hooks and the devices they sit on.
 */
#ifndef _FFWALL_HOOK_H
#define _FFWALL_HOOK_H

#include <linux/types.h>

#include "uapi/ffwall.h"

struct ffwall_table;

struct ffwall_hook_stats {
	u64 seen, not_ip, dropped_exact, dropped_ports, monitor_hits;
	u64 dropped_prefix, passed_allow;
	u64 hook_errors;
};

int ffwall_hook_init(struct ffwall_table *t, const char *devices, int priority);
void ffwall_hook_exit(void);

/* Under RTNL internally; process context. */
int ffwall_hook_attach(const char *name);
int ffwall_hook_detach(const char *name);
void ffwall_hook_list(struct ffwall_device *out, u32 cap, u32 *count);
void ffwall_hook_get_stats(struct ffwall_hook_stats *s);

#endif /* _FFWALL_HOOK_H */
