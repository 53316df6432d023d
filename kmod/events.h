/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ffwall: event records (EVICTED, EXPIRED, MISS, OVERFLOW) for readers of
 * /dev/ffwall.
 *
 * Raisers call ffwall_event_raise() from any context but NMI.  The record is
 * staged on the local CPU without a lock and without allocating, and a
 * per-CPU irq_work later copies the staged records into the ring of every
 * open file.  See events.c for the locking rules and DESIGN-events.md for
 * the design.
 */
#ifndef _FFWALL_EVENTS_H
#define _FFWALL_EVENTS_H

#include <linux/poll.h>
#include <linux/types.h>

struct file;
struct ffwall_ev_reader;

/*
 * Module init and exit.  ffwall_events_init() must run before anything can
 * raise an event (and runs the selftests under DEBUG); ffwall_events_exit()
 * only after every raiser is gone (hooks unregistered, table destroyed) and
 * with no file open.  Process context.
 */
int ffwall_events_init(void);
void ffwall_events_exit(void);

/**
 * ffwall_event_raise() - queue one event for every open file
 * @type: FFWALL_EVENT_EVICTED, FFWALL_EVENT_EXPIRED or FFWALL_EVENT_MISS.
 * @addr: 16 address bytes in network order (a struct ffwall_key or an
 *	__u8[16]), or NULL for the zero address.
 * @prefix_len: 128 for an exact address.
 * @flags: FFWALL_F_* of the entry.
 * @value: per type, see the uapi header (the entry's hits, ...).
 *
 * Any context except NMI: process (also under the table's mutex), softirq
 * (the packet path), hardirq.  Takes no lock, never sleeps, never
 * allocates.  Does nothing while no file is open.
 */
void ffwall_event_raise(u16 type, const void *addr, u8 prefix_len, u8 flags,
			u32 value);

/* Records lost by every file's ring since load (STATS events_lost). */
u64 ffwall_events_lost(void);

/*
 * The file operations' side, process context.  open returns an ERR_PTR on
 * failure; release may sleep (one RCU grace period).
 */
struct ffwall_ev_reader *ffwall_events_open(void);
void ffwall_events_release(struct ffwall_ev_reader *r);
ssize_t ffwall_events_read(struct ffwall_ev_reader *r, char __user *buf,
			   size_t len, bool nonblock);
__poll_t ffwall_events_poll(struct ffwall_ev_reader *r, struct file *file,
			    poll_table *wait);

#endif /* _FFWALL_EVENTS_H */
