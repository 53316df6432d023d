// SPDX-License-Identifier: GPL-2.0
/*
 * ffwall: batched freeing after an RCU grace period.  See reap.h for the
 * rules; each reaper is serialized by its owner, so nothing here locks.
 */
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>

#include "reap.h"

struct ffwall_reap_chunk {
	struct rcu_head rcu;
	struct kmem_cache *cache;
	unsigned int n;
	void *obj[];
};

#define FFWALL_REAP_MAX \
	((PAGE_SIZE - sizeof(struct ffwall_reap_chunk)) / sizeof(void *))

static void ffwall_reap_cb(struct rcu_head *head)
{
	struct ffwall_reap_chunk *c = container_of(head, struct ffwall_reap_chunk, rcu);
	unsigned int i;

	for (i = 0; i < c->n; i++)
		kmem_cache_free(c->cache, c->obj[i]);
	kfree(c);
}

void ffwall_reap_flush(struct ffwall_reaper *r)
{
	struct ffwall_reap_chunk *c = r->c;

	r->c = NULL;
	if (!c)
		return;
	if (c->n)
		call_rcu(&c->rcu, ffwall_reap_cb);
	else
		kfree(c);
}

void ffwall_reap(struct ffwall_reaper *r, void *obj)
{
	if (!r->c) {
		r->c = kmalloc(PAGE_SIZE, GFP_KERNEL | __GFP_NOWARN);
		if (!r->c) {
			/* No memory for a batch: wait for the readers here. */
			synchronize_rcu();
			kmem_cache_free(r->cache, obj);
			return;
		}
		r->c->cache = r->cache;
		r->c->n = 0;
	}
	r->c->obj[r->c->n++] = obj;
	if (r->c->n == FFWALL_REAP_MAX)
		ffwall_reap_flush(r);
}
