// SPDX-License-Identifier: GPL-2.0
/*
 * ffwall: the /dev/ffwall misc device.
 *
 * Every ioctl checks CAP_NET_ADMIN before it looks at its argument.  The
 * misc core takes a reference on this module for every open file, so rmmod
 * is refused while /dev/ffwall is open.
 */
#include <linux/capability.h>
#include <linux/compat.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "ffwall.h"
#include "chardev.h"
#include "filter.h"
#include "uapi/ffwall.h"

static long ffwall_ioc_version(void __user *arg)
{
	struct ffwall_version v;

	memset(&v, 0, sizeof(v));
	v.abi_version = FFWALL_ABI_VERSION;
	v.features = FFWALL_FEAT_FILTER;
	strscpy(v.module_version, FFWALL_MODULE_VERSION, sizeof(v.module_version));
	if (copy_to_user(arg, &v, sizeof(v)))
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
	/*
	 * TODO(integrator): GET_CONFIG reports
	 *	filter_max_bytes = FFWALL_FILTER_MAX_BYTES;
	 * and STATS fills filter_probes and filter_hits from
	 * ffwall_filter_get_stats() (probes, hits).
	 */
	case FFWALL_IOC_FILTER_LOAD:
		return ffwall_filter_ioc_load(uarg);
	case FFWALL_IOC_FILTER_ADD:
		return ffwall_filter_ioc_add(uarg);
	default:
		return -ENOTTY;
	}
}

static int ffwall_open(struct inode *inode, struct file *file)
{
	return stream_open(inode, file);
}

static const struct file_operations ffwall_fops = {
	.owner		= THIS_MODULE,
	.open		= ffwall_open,
	.unlocked_ioctl	= ffwall_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

static struct miscdevice ffwall_miscdev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= FFWALL_DEVICE_NAME,
	.fops	= &ffwall_fops,
	.mode	= 0600,
};

int ffwall_chardev_init(void)
{
	return misc_register(&ffwall_miscdev);
}

void ffwall_chardev_exit(void)
{
	misc_deregister(&ffwall_miscdev);
}
