// SPDX-License-Identifier: GPL-2.0
/*
 * Per-namespace table of tunnels keyed by (remote, tunnel id), the fields every
 * EoIP packet names. Readers are the receive paths (softirq, RCU); writers hold
 * RTNL (newlink, changelink, uninit), so no lock of our own is needed.
 */
#include <linux/hash.h>
#include <linux/rculist.h>

#include "eoip.h"

static u32 eoip_hash(const union eoip_addr *remote, u16 tid)
{
#if EOIP_IPV6
	u32 a = ipv6_addr_hash(&remote->ip6);
#else
	u32 a = (__force u32)remote->ip4;
#endif
	return hash_32(a ^ tid, EOIP_HASH_BITS);
}

void eoip_table_init(struct eoip_net *en)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(en->table); i++)
		INIT_HLIST_HEAD(&en->table[i]);
}

/*
 * The tunnel a packet from @remote to @local with @tid belongs to. A tunnel
 * configured with this exact local address wins over one that accepts any, so
 * both may coexist (as ip_gre lets them).
 */
struct eoip_tunnel *eoip_lookup(struct eoip_net *en, const union eoip_addr *remote,
				const union eoip_addr *local, u16 tid)
{
	struct eoip_tunnel *t, *any = NULL;

	hlist_for_each_entry_rcu(t, &en->table[eoip_hash(remote, tid)], node) {
		const struct eoip_config *cfg = rcu_dereference(t->cfg);

		if (cfg->tid != tid || !eoip_addr_equal(&cfg->remote, remote))
			continue;
		if (eoip_addr_equal(&cfg->local, local))
			return t;
		if (eoip_addr_any(&cfg->local))
			any = t;
	}
	return any;
}

/* The tunnel with exactly @cfg's keys (RTNL): two such would steal each other's packets. */
struct eoip_tunnel *eoip_find(struct eoip_net *en, const struct eoip_config *cfg)
{
	struct eoip_tunnel *t;

	ASSERT_RTNL();
	hlist_for_each_entry(t, &en->table[eoip_hash(&cfg->remote, cfg->tid)], node) {
		const struct eoip_config *c = rtnl_dereference(t->cfg);

		if (c->tid == cfg->tid && eoip_addr_equal(&c->remote, &cfg->remote) &&
		    eoip_addr_equal(&c->local, &cfg->local))
			return t;
	}
	return NULL;
}

void eoip_table_add(struct eoip_net *en, struct eoip_tunnel *t)
{
	const struct eoip_config *cfg = rtnl_dereference(t->cfg);

	hlist_add_head_rcu(&t->node, &en->table[eoip_hash(&cfg->remote, cfg->tid)]);
}

/* Readers may still be walking past @t: callers wait a grace period before reusing it. */
void eoip_table_del(struct eoip_tunnel *t)
{
	ASSERT_RTNL();
	if (!hlist_unhashed(&t->node))
		hlist_del_init_rcu(&t->node);
}
