/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ffwall: the /dev/ffwall misc device and its ioctl dispatch.
 */
#ifndef _FFWALL_CHARDEV_H
#define _FFWALL_CHARDEV_H

struct ffwall_table;

int ffwall_chardev_init(struct ffwall_table *t, int hook_priority);
void ffwall_chardev_exit(void);

#endif /* _FFWALL_CHARDEV_H */
