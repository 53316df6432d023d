/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ffwall: freeing unlinked objects after an RCU grace period, in batches.
 *
 * Writers that unlink many objects (a large DEL, an eviction sweep, expiry)
 * collect them in page-sized chunks and hand each chunk to call_rcu() once,
 * instead of queueing one callback per object.  The objects need no
 * rcu_head of their own.
 *
 * A reaper belongs to one writer at a time: it is protected by whatever
 * serializes that writer (a table's or a prefix set's mutex, or being a
 * local variable).  ffwall_reap() may sleep.  Every batch must end with
 * ffwall_reap_flush(), and the owner of the cache must call rcu_barrier()
 * before kmem_cache_destroy().
 */
#ifndef _FFWALL_REAP_H
#define _FFWALL_REAP_H

struct kmem_cache;
struct ffwall_reap_chunk;

struct ffwall_reaper {
	struct kmem_cache *cache;	/* where the objects go back to */
	struct ffwall_reap_chunk *c;	/* the chunk being filled, or NULL */
};

#define FFWALL_REAPER_INIT(kc) { .cache = (kc), .c = NULL }

/* Free @obj, already unlinked, once no RCU reader can see it.  May sleep. */
void ffwall_reap(struct ffwall_reaper *r, void *obj);
/* Hand the chunk being filled to call_rcu(). */
void ffwall_reap_flush(struct ffwall_reaper *r);

#endif /* _FFWALL_REAP_H */
