// SPDX-License-Identifier: GPL-2.0
/*
 * A stand-in for the old out-of-tree eoip project's module, for
 * test/kernel/kmod-cli.test.ts: named eoip and registering rtnetlink link kind
 * "eoip" like it, but without greoip's marks (no MODULE_VERSION, no
 * MODULE_INFO(greoip), no .note.greoip), which is how `greoip kmod status`
 * must tell it from ours. Its devices drop everything they are given.
 */
#include <linux/etherdevice.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <net/rtnetlink.h>

static netdev_tx_t foreign_xmit(struct sk_buff *skb, struct net_device *dev)
{
	dev_kfree_skb(skb);
	return NETDEV_TX_OK;
}

static const struct net_device_ops foreign_netdev_ops = {
	.ndo_start_xmit = foreign_xmit,
};

static void foreign_setup(struct net_device *dev)
{
	ether_setup(dev);
	dev->netdev_ops = &foreign_netdev_ops;
	dev->needs_free_netdev = true;
	eth_hw_addr_random(dev);
}

static struct rtnl_link_ops foreign_link_ops __read_mostly = {
	.kind	= "eoip",
	.setup	= foreign_setup,
};

static int __init foreign_init(void)
{
	return rtnl_link_register(&foreign_link_ops);
}

static void __exit foreign_exit(void)
{
	rtnl_link_unregister(&foreign_link_ops);
}

module_init(foreign_init);
module_exit(foreign_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("test stand-in for a foreign eoip module: link kind eoip, no greoip mark");
MODULE_ALIAS_RTNL_LINK("eoip");
