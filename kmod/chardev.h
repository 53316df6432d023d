/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ffwall: the /dev/ffwall misc device and its ioctl dispatch.
 */
#ifndef _FFWALL_CHARDEV_H
#define _FFWALL_CHARDEV_H

int ffwall_chardev_init(void);
void ffwall_chardev_exit(void);

#endif /* _FFWALL_CHARDEV_H */
