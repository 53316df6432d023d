/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ffwall: declarations shared by the module's subsystems.
 */
#ifndef _FFWALL_H
#define _FFWALL_H

#define FFWALL_MODULE_VERSION	"0.1.0"

#endif /* _FFWALL_H */
