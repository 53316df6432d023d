// SPDX-License-Identifier: GPL-2.0
/*
 * ffwall: the /dev/ffwall misc device.
 *
 * Every ioctl checks CAP_NET_ADMIN before it looks at its argument.  The
 * misc core takes a reference on this module for every open file, so rmmod
 * is refused while /dev/ffwall is open.  read() and poll() deliver event
 * records (events.c); private_data is the file's ring, NULL when the file
 * was not opened for reading.
 */
#include <linux/capability.h>
#include <linux/compat.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "ffwall.h"
#include "chardev.h"
#include "events.h"
#include "uapi/ffwall.h"

static long ffwall_ioc_version(void __user *arg)
{
	struct ffwall_version v;

	memset(&v, 0, sizeof(v));
	v.abi_version = FFWALL_ABI_VERSION;
	v.features = FFWALL_FEAT_EVENTS;
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
	default:
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

int ffwall_chardev_init(void)
{
	return misc_register(&ffwall_miscdev);
}

void ffwall_chardev_exit(void)
{
	misc_deregister(&ffwall_miscdev);
}
