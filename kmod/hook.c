// SPDX-License-Identifier: GPL-2.0
/*
 * ffwall: netfilter netdev ingress hooks.
 *
 * One NFPROTO_NETDEV / NF_NETDEV_INGRESS hook per chosen device of the
 * initial network namespace.  Devices are chosen by name (the attach list,
 * from the devices= parameter and ATTACH/DETACH) or all at once with "*";
 * a netdevice notifier hooks a matching device when it registers or is
 * renamed, and unhooks it when it unregisters or is renamed away, so a
 * device that is deleted and created again is hooked again.
 *
 * Locking: the attach list, ffwall_attach_all and the hook list are
 * protected by RTNL, which also serializes them with the notifier.
 *
 * The packet path (ffwall_hook_fn) runs under rcu_read_lock() from the
 * receive path, takes no lock, allocates nothing and reads the packet only
 * through skb_header_pointer().  Decisions (see kmod/DESIGN.md):
 *  - the source address decides; a port-scoped entry also needs the TCP,
 *    UDP, UDP-Lite, SCTP or DCCP destination port, read from the first
 *    fragment only: a non-first fragment, another protocol or a truncated
 *    header passes a port-scoped entry (a whole-address entry drops every
 *    fragment);
 *  - VLAN: the receive path strips the outer tag into skb metadata before
 *    the ingress hooks, so single-tagged frames are judged like untagged
 *    ones, on every VLAN of the device; a frame still tagged after that
 *    (QinQ) is not IP to us and passes;
 *  - replies to this host's own connections carry a local ephemeral port as
 *    destination, so a port-scoped entry lets them through;
 *  - verdict (issue 4): the most specific ban decides, with its ports: an
 *    exact entry shadows every prefix and a longer prefix a shorter one,
 *    even when its ports do not match the packet (never a shorter one).  Only
 *    when that ban would drop or count the packet is the allowlist
 *    consulted; a covered source passes and counts passed_allow (the ban
 *    records no hit).  Otherwise monitor (the entry's flag or the global
 *    mode) counts monitor_hits and passes, else the packet is dropped;
 *  - a packet no ban matched may raise MISS (membership filter), except
 *    from an allowlisted source: it would pass whatever the daemon
 *    re-added, and an ADD inside the allowlist is refused anyway.
 */
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/netdevice.h>
#include <linux/netfilter.h>
#include <linux/netfilter_netdev.h>
#include <linux/percpu.h>
#include <linux/rtnetlink.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/net_namespace.h>

#include "events.h"
#include "filter.h"
#include "hook.h"
#include "prefix.h"
#include "table.h"

struct ffwall_pcpu_stats {
	u64 seen;
	u64 not_ip;
	u64 dropped_exact;
	u64 dropped_ports;
	u64 monitor_hits;
	u64 dropped_prefix;
	u64 passed_allow;
};

struct ffwall_dev_hook {
	struct list_head list;
	struct net_device *dev;
	struct nf_hook_ops ops;
};

struct ffwall_name {
	struct list_head list;
	char name[IFNAMSIZ];
};

static struct ffwall_pcpu_stats __percpu *ffwall_pcpu;
static struct ffwall_table *ffwall_hook_table;
static int ffwall_hook_prio;

/* Protected by RTNL. */
static LIST_HEAD(ffwall_hooks);
static LIST_HEAD(ffwall_names);
static unsigned int ffwall_nnames;
static bool ffwall_attach_all;
static u64 ffwall_hook_errors;

/* ------------------------------------------------------------------------ */
/* The packet path. */

/* Where the L4 header is, for the destination port of a port-scoped entry. */
struct ffwall_pkt {
	int l4off;		/* -1: unknown, non-first fragment or truncated */
	u8 proto;
};

static bool ffwall_parse_v4(const struct sk_buff *skb, int nhoff,
			    struct ffwall_key *key, struct ffwall_pkt *pkt)
{
	const struct iphdr *iph;
	struct iphdr _iph;
	u8 *k = (u8 *)key;

	iph = skb_header_pointer(skb, nhoff, sizeof(_iph), &_iph);
	if (!iph || iph->version != 4 || iph->ihl < 5)
		return false;
	memset(k, 0, 10);
	k[10] = 0xff;
	k[11] = 0xff;
	memcpy(k + 12, &iph->saddr, 4);
	pkt->proto = iph->protocol;
	pkt->l4off = (iph->frag_off & htons(IP_OFFSET)) ? -1 : nhoff + iph->ihl * 4;
	return true;
}

static bool ffwall_parse_v6(const struct sk_buff *skb, int nhoff,
			    struct ffwall_key *key, struct ffwall_pkt *pkt)
{
	const struct ipv6hdr *ip6h;
	struct ipv6hdr _ip6h;

	ip6h = skb_header_pointer(skb, nhoff, sizeof(_ip6h), &_ip6h);
	if (!ip6h || ip6h->version != 6)
		return false;
	memcpy(key, &ip6h->saddr, sizeof(*key));
	/* The extension headers are walked only for a port-scoped match. */
	pkt->proto = ip6h->nexthdr;
	pkt->l4off = nhoff + sizeof(*ip6h);
	return true;
}

static bool ffwall_v6_l4(const struct sk_buff *skb, struct ffwall_pkt *pkt)
{
	__be16 frag_off = 0;
	u8 nexthdr = pkt->proto;
	int off;

	off = ipv6_skip_exthdr(skb, pkt->l4off, &nexthdr, &frag_off);
	if (off < 0 || (frag_off & htons(~0x7)))
		return false;
	pkt->l4off = off;
	pkt->proto = nexthdr;
	return true;
}

static bool ffwall_dport(const struct sk_buff *skb, const struct ffwall_pkt *pkt, u16 *port)
{
	__be16 _ports[2];
	const __be16 *ports;

	if (pkt->l4off < 0)
		return false;
	switch (pkt->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP:
	case IPPROTO_DCCP:
		/* All five start with the source and destination ports. */
		ports = skb_header_pointer(skb, pkt->l4off, sizeof(_ports), _ports);
		if (!ports)
			return false;
		*port = ntohs(ports[1]);
		return true;
	default:
		return false;
	}
}

/*
 * A packet that no entry matched.  If it starts a flow and its source is in
 * the membership filter, its ban was evicted from the table but lives on in
 * the daemon's database: raise MISS (rate-limited per address) so that the
 * daemon puts it back.  A filter hit never drops the packet by itself: a
 * false positive would hit an innocent host.  Established traffic and
 * hosts without a filter pay one pointer load.
 */
static void ffwall_hook_miss(const struct sk_buff *skb, const struct ffwall_key *key,
			     struct ffwall_pkt *pkt, bool v6)
{
	const u8 *addr = (const u8 *)key;

	if (!ffwall_filter_active())
		return;
	if (v6 && !ffwall_v6_l4(skb, pkt))
		return;
	if (pkt->l4off < 0 || !ffwall_filter_flow_start(skb, pkt->l4off, pkt->proto))
		return;
	if (!ffwall_filter_probe(addr))
		return;
	/* Rare path (a filter hit): allowlisted sources never need their ban. */
	if (ffwall_allow_match_rcu(ffwall_hook_table->allow, key))
		return;
	if (ffwall_filter_should_report(addr))
		ffwall_event_raise(FFWALL_EVENT_MISS, addr, 128, 0, 0);
}

static unsigned int ffwall_hook_fn(void *priv, struct sk_buff *skb,
				   const struct nf_hook_state *state)
{
	struct ffwall_table *t = priv;
	int nhoff = skb_network_offset(skb);
	struct ffwall_pfx *p = NULL;
	struct ffwall_entry *e;
	struct ffwall_pkt pkt;
	struct ffwall_clock clk = { .t = t };
	struct ffwall_key key;
	bool parsed, v6 = false;
	u16 ps, dport;
	u8 flags;
	u32 now;

	this_cpu_inc(ffwall_pcpu->seen);
	switch (skb->protocol) {
	case htons(ETH_P_IP):
		parsed = ffwall_parse_v4(skb, nhoff, &key, &pkt);
		break;
	case htons(ETH_P_IPV6):
		parsed = ffwall_parse_v6(skb, nhoff, &key, &pkt);
		v6 = true;
		break;
	default:
		parsed = false;
		break;
	}
	if (unlikely(!parsed)) {
		this_cpu_inc(ffwall_pcpu->not_ip);
		return NF_ACCEPT;
	}

	/* A miss never reads the clock: only an entry's expiry needs it. */
	e = ffwall_table_lookup_clock_rcu(t, &key, &clk);
	if (likely(!e)) {
		p = ffwall_pset_lookup_clock_rcu(t->ban, &key, &clk);
		if (likely(!p)) {
			ffwall_hook_miss(skb, &key, &pkt, v6);
			return NF_ACCEPT;
		}
		ps = READ_ONCE(p->portset);
		flags = READ_ONCE(p->flags);
	} else {
		ps = READ_ONCE(e->portset);
		flags = READ_ONCE(e->flags);
	}

	/* The most specific ban decides, never a shorter one behind it. */
	if (ps) {
		if (v6 && !ffwall_v6_l4(skb, &pkt))
			return NF_ACCEPT;
		if (!ffwall_dport(skb, &pkt, &dport) ||
		    !ffwall_table_port_match(t, ps, dport))
			return NF_ACCEPT;
	}

	if (unlikely(ffwall_allow_match_rcu(t->allow, &key))) {
		this_cpu_inc(ffwall_pcpu->passed_allow);
		return NF_ACCEPT;
	}
	now = ffwall_clock_now(&clk);
	if (e)
		ffwall_table_hit(e, now);
	else
		ffwall_pfx_hit(p, now);
	if ((flags & FFWALL_F_MONITOR) || READ_ONCE(t->mode) == FFWALL_MODE_MONITOR) {
		this_cpu_inc(ffwall_pcpu->monitor_hits);
		return NF_ACCEPT;
	}
	if (!e)
		this_cpu_inc(ffwall_pcpu->dropped_prefix);
	else if (ps)
		this_cpu_inc(ffwall_pcpu->dropped_ports);
	else
		this_cpu_inc(ffwall_pcpu->dropped_exact);
	return NF_DROP;
}

/* ------------------------------------------------------------------------ */
/* Devices.  Everything below runs under RTNL. */

static struct ffwall_name *ffwall_find_name(const char *name)
{
	struct ffwall_name *n;

	list_for_each_entry(n, &ffwall_names, list)
		if (!strcmp(n->name, name))
			return n;
	return NULL;
}

static struct ffwall_dev_hook *ffwall_find_hook(const struct net_device *dev)
{
	struct ffwall_dev_hook *h;

	list_for_each_entry(h, &ffwall_hooks, list)
		if (h->dev == dev)
			return h;
	return NULL;
}

static bool ffwall_wanted(const struct net_device *dev)
{
	if (!net_eq(dev_net(dev), &init_net))
		return false;
	return ffwall_attach_all || ffwall_find_name(dev->name);
}

static int ffwall_hook_dev(struct net_device *dev)
{
	struct ffwall_dev_hook *h;
	int err;

	h = kzalloc(sizeof(*h), GFP_KERNEL);
	if (!h) {
		err = -ENOMEM;
		goto err_count;
	}
	h->dev = dev;
	h->ops.hook = ffwall_hook_fn;
	h->ops.priv = ffwall_hook_table;
	h->ops.pf = NFPROTO_NETDEV;
	h->ops.hooknum = NF_NETDEV_INGRESS;
	h->ops.priority = ffwall_hook_prio;
	h->ops.dev = dev;
	err = nf_register_net_hook(dev_net(dev), &h->ops);
	if (err) {
		kfree(h);
		goto err_count;
	}
	list_add_tail(&h->list, &ffwall_hooks);
	pr_debug("hooked %s\n", dev->name);
	return 0;

err_count:
	ffwall_hook_errors++;
	pr_warn("cannot hook %s: %d\n", dev->name, err);
	return err;
}

/*
 * The netfilter core swaps our entry for a pass-all one; a packet already
 * in ffwall_hook_fn may finish after this returns, which is why the table
 * outlives the hooks by a grace period (ffwall_hook_exit()).
 */
static void ffwall_unhook(struct ffwall_dev_hook *h)
{
	nf_unregister_net_hook(dev_net(h->dev), &h->ops);
	list_del(&h->list);
	pr_debug("unhooked %s\n", h->dev->name);
	kfree(h);
}

static int ffwall_sync_dev(struct net_device *dev)
{
	struct ffwall_dev_hook *h = ffwall_find_hook(dev);
	bool want = ffwall_wanted(dev);

	if (want && !h)
		return ffwall_hook_dev(dev);
	if (!want && h)
		ffwall_unhook(h);
	return 0;
}

static int ffwall_sync_all(void)
{
	struct net_device *dev;
	int err = 0, e;

	for_each_netdev(&init_net, dev) {
		e = ffwall_sync_dev(dev);
		if (e && !err)
			err = e;
	}
	return err;
}

static int ffwall_netdev_event(struct notifier_block *nb, unsigned long event, void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);
	struct ffwall_dev_hook *h;

	switch (event) {
	case NETDEV_REGISTER:
	case NETDEV_CHANGENAME:
		if (net_eq(dev_net(dev), &init_net))
			ffwall_sync_dev(dev);
		break;
	case NETDEV_UNREGISTER:
		/* Also sent before a device moves to another namespace. */
		h = ffwall_find_hook(dev);
		if (h)
			ffwall_unhook(h);
		break;
	}
	return NOTIFY_DONE;
}

static struct notifier_block ffwall_netdev_nb = {
	.notifier_call = ffwall_netdev_event,
};

static int __ffwall_attach(const char *name)
{
	struct ffwall_name *n;
	int err;

	ASSERT_RTNL();
	if (!strcmp(name, "*")) {
		if (ffwall_attach_all)
			return 0;
		ffwall_attach_all = true;
		err = ffwall_sync_all();
		if (err) {
			ffwall_attach_all = false;
			ffwall_sync_all();
		}
		return err;
	}
	if (ffwall_find_name(name))
		return 0;
	if (ffwall_nnames >= FFWALL_MAX_ATTACH)
		return -ENOSPC;
	n = kzalloc(sizeof(*n), GFP_KERNEL);
	if (!n)
		return -ENOMEM;
	strscpy(n->name, name, sizeof(n->name));
	list_add_tail(&n->list, &ffwall_names);
	ffwall_nnames++;
	err = ffwall_sync_all();
	if (err) {
		list_del(&n->list);
		ffwall_nnames--;
		kfree(n);
		ffwall_sync_all();
	}
	return err;
}

int ffwall_hook_attach(const char *name)
{
	int err;

	rtnl_lock();
	err = __ffwall_attach(name);
	rtnl_unlock();
	return err;
}

int ffwall_hook_detach(const char *name)
{
	struct ffwall_name *n;
	int err = 0;

	rtnl_lock();
	if (!strcmp(name, "*")) {
		if (ffwall_attach_all)
			ffwall_attach_all = false;
		else
			err = -ENOENT;
	} else {
		n = ffwall_find_name(name);
		if (n) {
			list_del(&n->list);
			ffwall_nnames--;
			kfree(n);
		} else {
			err = -ENOENT;
		}
	}
	/* Unhooking cannot fail. */
	if (!err)
		ffwall_sync_all();
	rtnl_unlock();
	return err;
}

static void ffwall_list_put(struct ffwall_device *out, u32 cap, u32 *n,
			    const char *name, const struct net_device *dev, u32 flags)
{
	if (*n < cap) {
		struct ffwall_device *d = &out[*n];

		memset(d, 0, sizeof(*d));
		strscpy(d->name, name, sizeof(d->name));
		d->ifindex = dev ? dev->ifindex : 0;
		d->flags = flags;
	}
	(*n)++;
}

void ffwall_hook_list(struct ffwall_device *out, u32 cap, u32 *count)
{
	struct ffwall_dev_hook *h;
	struct net_device *dev;
	struct ffwall_name *n;
	u32 i = 0;

	rtnl_lock();
	if (ffwall_attach_all)
		ffwall_list_put(out, cap, &i, "*", NULL, FFWALL_DEV_NAMED);
	list_for_each_entry(n, &ffwall_names, list) {
		dev = __dev_get_by_name(&init_net, n->name);
		ffwall_list_put(out, cap, &i, n->name, dev, FFWALL_DEV_NAMED |
				(dev && ffwall_find_hook(dev) ? FFWALL_DEV_HOOKED : 0));
	}
	list_for_each_entry(h, &ffwall_hooks, list)
		if (!ffwall_find_name(h->dev->name))
			ffwall_list_put(out, cap, &i, h->dev->name, h->dev,
					FFWALL_DEV_HOOKED);
	rtnl_unlock();
	*count = i;
}

void ffwall_hook_get_stats(struct ffwall_hook_stats *s)
{
	int cpu;

	memset(s, 0, sizeof(*s));
	for_each_possible_cpu(cpu) {
		const struct ffwall_pcpu_stats *p = per_cpu_ptr(ffwall_pcpu, cpu);

		s->seen += READ_ONCE(p->seen);
		s->not_ip += READ_ONCE(p->not_ip);
		s->dropped_exact += READ_ONCE(p->dropped_exact);
		s->dropped_ports += READ_ONCE(p->dropped_ports);
		s->monitor_hits += READ_ONCE(p->monitor_hits);
		s->dropped_prefix += READ_ONCE(p->dropped_prefix);
		s->passed_allow += READ_ONCE(p->passed_allow);
	}
	s->hook_errors = READ_ONCE(ffwall_hook_errors);
}

/* ------------------------------------------------------------------------ */
/* Life cycle. */

static void ffwall_free_names(void)
{
	struct ffwall_name *n, *tmp;

	list_for_each_entry_safe(n, tmp, &ffwall_names, list) {
		list_del(&n->list);
		kfree(n);
	}
	ffwall_nnames = 0;
	ffwall_attach_all = false;
}

/*
 * @devices: comma-separated names, "*" for all.  A name that does not
 * exist yet is kept and hooked when it appears.
 */
int ffwall_hook_init(struct ffwall_table *t, const char *devices, int priority)
{
	char name[IFNAMSIZ];
	const char *p = devices, *end;
	size_t len;
	int err = 0;

	ffwall_hook_table = t;
	ffwall_hook_prio = priority;
	ffwall_pcpu = alloc_percpu(struct ffwall_pcpu_stats);
	if (!ffwall_pcpu)
		return -ENOMEM;

	/* Fill the attach list; the notifier's replay hooks what exists. */
	rtnl_lock();
	while (p && *p) {
		end = strchrnul(p, ',');
		len = end - p;
		if (len) {
			if (len >= IFNAMSIZ) {
				err = -EINVAL;
			} else {
				memcpy(name, p, len);
				name[len] = '\0';
				if (strcmp(name, "*") && !dev_valid_name(name))
					err = -EINVAL;
			}
			if (err) {
				pr_err("devices=: invalid device name '%.*s'\n", (int)len, p);
				break;
			}
			if (!strcmp(name, "*")) {
				ffwall_attach_all = true;
			} else if (!ffwall_find_name(name)) {
				struct ffwall_name *n = kzalloc(sizeof(*n), GFP_KERNEL);

				if (!n || ffwall_nnames >= FFWALL_MAX_ATTACH) {
					kfree(n);
					err = n ? -ENOSPC : -ENOMEM;
					break;
				}
				strscpy(n->name, name, sizeof(n->name));
				list_add_tail(&n->list, &ffwall_names);
				ffwall_nnames++;
			}
		}
		p = *end ? end + 1 : NULL;
	}
	rtnl_unlock();
	if (err)
		goto err_names;

	err = register_netdevice_notifier(&ffwall_netdev_nb);
	if (err)
		goto err_names;
	return 0;

err_names:
	rtnl_lock();
	ffwall_free_names();
	rtnl_unlock();
	free_percpu(ffwall_pcpu);
	return err;
}

void ffwall_hook_exit(void)
{
	struct ffwall_dev_hook *h, *tmp;

	/* Replays NETDEV_UNREGISTER for every device: unhooks them all. */
	unregister_netdevice_notifier(&ffwall_netdev_nb);
	rtnl_lock();
	list_for_each_entry_safe(h, tmp, &ffwall_hooks, list)
		ffwall_unhook(h);
	ffwall_free_names();
	rtnl_unlock();
	/* Packets still inside ffwall_hook_fn finish before the table goes. */
	synchronize_net();
	free_percpu(ffwall_pcpu);
}
