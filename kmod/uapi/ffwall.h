/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note OR MIT */
/*
 * ffwall: the ioctl interface of /dev/ffwall.
 *
 * This header is the only contract between ffwall.ko and userland.  All
 * structures use fixed-width types and have no implicit padding; pointers
 * travel as __u64; every reserved field must be zero or the command fails
 * with EINVAL.  Every command requires CAP_NET_ADMIN (EPERM otherwise), and
 * an unknown command fails with ENOTTY.
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

/**
 * struct ffwall_version - FFWALL_IOC_VERSION result
 * @abi_version: FFWALL_ABI_VERSION of the running module.  Userland refuses a
 *	module whose ABI version it does not know.
 * @reserved0: zero.
 * @features: FFWALL_FEAT_* bits of the commands this module implements.
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
 * Errors: EPERM (no CAP_NET_ADMIN), EFAULT (bad pointer).
 */
#define FFWALL_IOC_VERSION	_IOR(FFWALL_IOC_MAGIC, 0x00, struct ffwall_version)

#endif /* _UAPI_LINUX_FFWALL_H */
