// SPDX-License-Identifier: GPL-2.0
/*
 * The eoip / eoipv6 net_device and its rtnl_link_ops.
 *
 * Lifetime: newlink registers the device and hashes it; ndo_uninit (called by
 * unregister_netdevice, under RTNL) unhashes it, and the core's
 * synchronize_net() before the device is freed lets running receive paths
 * finish with it. Devices cannot move between namespaces (netns_local): the
 * tunnel's table, underlay routes and receive hook all belong to the
 * namespace the device was created in.
 */
#include "eoip.h"

/*
 * Offloads eoip_xmit finishes in software (send.c): frames in page fragments,
 * checksums left partial, and GSO superpackets of every software-segmentable
 * kind except fraglist (later kernels took that out of NETIF_F_GSO_SOFTWARE;
 * the stack segments those before ndo_start_xmit). Also in hw_features, so
 * `ethtool -K` can turn them off; without a checksum feature or
 * scatter-gather the core turns TSO off too.
 */
#define EOIP_FEATURES	(NETIF_F_SG | NETIF_F_HIGHDMA | NETIF_F_HW_CSUM |		\
			 (NETIF_F_GSO_SOFTWARE & ~NETIF_F_GSO_FRAGLIST))

static int eoip_dev_init(struct net_device *dev)
{
	struct eoip_tunnel *t = netdev_priv(dev);
	struct eoip_net *en = eoip_net(dev_net(dev));
	int err;

	dev->tstats = netdev_alloc_pcpu_stats(struct pcpu_sw_netstats);
	if (!dev->tstats)
		return -ENOMEM;
	err = dst_cache_init(&t->dst_cache, GFP_KERNEL);
	if (err)
		goto err_free_stats;
	err = gro_cells_init(&t->gro_cells, dev);
	if (err)
		goto err_destroy_cache;
	/* The first tunnel of a namespace turns its receive hook on. */
	if (en->tunnels == 0) {
		err = eoip_receive_net_start(dev_net(dev));
		if (err)
			goto err_destroy_cells;
	}
	en->tunnels++;
	t->initialized = true;
	return 0;

err_destroy_cells:
	gro_cells_destroy(&t->gro_cells);
err_destroy_cache:
	dst_cache_destroy(&t->dst_cache);
err_free_stats:
	free_percpu(dev->tstats);
	dev->tstats = NULL;
	return err;
}

/* Undoes eoip_dev_init and unhashes; memory goes in eoip_dev_free, after a grace period. */
static void eoip_dev_uninit(struct net_device *dev)
{
	struct eoip_tunnel *t = netdev_priv(dev);
	struct eoip_net *en = eoip_net(dev_net(dev));

	eoip_table_del(t);
	if (--en->tunnels == 0)
		eoip_receive_net_stop(dev_net(dev));
}

/* priv_destructor: no receive path, timer or transmit can reach the device any more. */
static void eoip_dev_free(struct net_device *dev)
{
	struct eoip_tunnel *t = netdev_priv(dev);

	gro_cells_destroy(&t->gro_cells);
	dst_cache_destroy(&t->dst_cache);
	free_percpu(dev->tstats);
	kfree(rcu_dereference_protected(t->cfg, true));
}

static int eoip_open(struct net_device *dev)
{
	eoip_keepalive_open(netdev_priv(dev));
	return 0;
}

static int eoip_stop(struct net_device *dev)
{
	eoip_keepalive_stop(netdev_priv(dev));
	return 0;
}

static const struct net_device_ops eoip_netdev_ops = {
	.ndo_init		= eoip_dev_init,
	.ndo_uninit		= eoip_dev_uninit,
	.ndo_open		= eoip_open,
	.ndo_stop		= eoip_stop,
	.ndo_start_xmit		= eoip_xmit,
	.ndo_get_stats64	= dev_get_tstats64,
	.ndo_set_mac_address	= eth_mac_addr,
	.ndo_validate_addr	= eth_validate_addr,
};

static void eoip_setup(struct net_device *dev)
{
	struct eoip_tunnel *t = netdev_priv(dev);

	ether_setup(dev);
	dev->netdev_ops = &eoip_netdev_ops;
	dev->needs_free_netdev = true;
	dev->priv_destructor = eoip_dev_free;
	/* ether_setup's MTU is RouterOS's usual tunnel MTU; larger frames need outer fragments. */
	dev->min_mtu = ETH_MIN_MTU;
	dev->max_mtu = EOIP_MAX_FRAME - ETH_HLEN;
	dev->needed_headroom = LL_MAX_HEADER + EOIP_OUTER_HLEN;
	dev->priv_flags &= ~IFF_TX_SKB_SHARING;
	dev->priv_flags |= IFF_LIVE_ADDR_CHANGE;
	dev->features |= EOIP_FEATURES;
	dev->hw_features |= EOIP_FEATURES;
	eoip_dev_set_lltx_netns_local(dev);
	eth_hw_addr_random(dev);

	t->dev = dev;
	INIT_HLIST_NODE(&t->node);
}

static int eoip_check_unique(struct eoip_net *en, const struct eoip_config *cfg,
			     const struct eoip_tunnel *self, struct netlink_ext_ack *extack)
{
	const struct eoip_tunnel *other = eoip_find(en, cfg);

	if (other && other != self) {
		EOIP_ERR_DUPLICATE(extack, other->dev->name);
		return -EEXIST;
	}
	return 0;
}

static int eoip_newlink(EOIP_NEWLINK_ARGS)
{
	struct nlattr **attrs = EOIP_NEWLINK_DATA;
	struct eoip_tunnel *t = netdev_priv(dev);
	struct net *net = dev_net(dev);
	struct eoip_config *cfg;
	int err;

	if (!attrs || !attrs[IFLA_GRE_REMOTE]) {
		NL_SET_ERR_MSG(extack, "IFLA_GRE_REMOTE: remote address required");
		return -EINVAL;
	}
	if (!attrs[IFLA_GRE_IKEY]) {
		NL_SET_ERR_MSG(extack, "IFLA_GRE_IKEY: tunnel id required");
		return -EINVAL;
	}
	cfg = kzalloc(sizeof(*cfg), GFP_KERNEL);
	if (!cfg)
		return -ENOMEM;
	eoip_config_defaults(cfg);
	err = eoip_config_apply(net, cfg, attrs, extack);
	if (!err)
		err = eoip_check_unique(eoip_net(net), cfg, NULL, extack);
	if (err) {
		kfree(cfg);
		return err;
	}
	RCU_INIT_POINTER(t->cfg, cfg);
	eoip_keepalive_init(t, cfg);
	err = register_netdevice(dev);
	if (err) {
		/*
		 * Once ndo_init succeeded, the destructor frees cfg (now, or
		 * after an unregister); before, register_netdevice never calls it.
		 */
		if (!t->initialized)
			kfree(cfg);
		return err;
	}
	eoip_table_add(eoip_net(net), t);
	return 0;
}

static bool eoip_keys_changed(const struct eoip_config *a, const struct eoip_config *b)
{
	return a->tid != b->tid || !eoip_addr_equal(&a->remote, &b->remote) ||
	       !eoip_addr_equal(&a->local, &b->local);
}

/*
 * Publishes @cfg. When the lookup keys change the tunnel leaves the table for
 * a grace period first, so no reader follows its list pointers into the new
 * bucket (a packet or two may miss the tunnel meanwhile, as when it is moved).
 */
static void eoip_publish(struct eoip_tunnel *t, struct eoip_config *cfg)
{
	struct eoip_config *old = rtnl_dereference(t->cfg);
	bool rehash = eoip_keys_changed(old, cfg);

	if (rehash) {
		eoip_table_del(t);
		synchronize_net();
	}
	rcu_assign_pointer(t->cfg, cfg);
	if (rehash)
		eoip_table_add(eoip_net(dev_net(t->dev)), t);
	dst_cache_reset(&t->dst_cache);
	kfree_rcu(old, rcu);
}

static int eoip_changelink(struct net_device *dev, struct nlattr *tb[], struct nlattr *data[],
			   struct netlink_ext_ack *extack)
{
	struct eoip_tunnel *t = netdev_priv(dev);
	struct net *net = dev_net(dev);
	struct eoip_config *cfg;
	int err;

	if (!data)
		return 0;
	cfg = kmemdup(rtnl_dereference(t->cfg), sizeof(*cfg), GFP_KERNEL);
	if (!cfg)
		return -ENOMEM;
	err = eoip_config_apply(net, cfg, data, extack);
	if (!err)
		err = eoip_check_unique(eoip_net(net), cfg, t, extack);
	if (err) {
		kfree(cfg);
		return err;
	}
	eoip_publish(t, cfg);
	eoip_keepalive_reconfigure(t, cfg);
	return 0;
}

static void eoip_dellink(struct net_device *dev, struct list_head *head)
{
	unregister_netdevice_queue(dev, head);
}

struct rtnl_link_ops eoip_link_ops __read_mostly = {
	.kind		= EOIP_KIND,
	.maxtype	= IFLA_EOIP_MAX,
	.policy		= eoip_policy,
	.priv_size	= sizeof(struct eoip_tunnel),
	.setup		= eoip_setup,
	.validate	= eoip_validate,
	.newlink	= eoip_newlink,
	.changelink	= eoip_changelink,
	.dellink	= eoip_dellink,
	.get_size	= eoip_get_size,
	.fill_info	= eoip_fill_info,
};
