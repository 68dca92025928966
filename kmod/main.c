// SPDX-License-Identifier: GPL-2.0
/*
 * Module init and exit, and the per-namespace state.
 *
 * Order matters for a clean unload with tunnels up and traffic flowing:
 * rtnl_link_unregister() deletes every device of the kind in every namespace
 * (ndo_stop stops its keepalive timer synchronously, ndo_uninit unhashes it
 * and turns the namespace's receive hook off with the last one), then the
 * global receive handler goes, then the per-namespace tables.
 */
#include <linux/elfnote.h>
#include <linux/module.h>

#include "eoip.h"

/*
 * What `greoip kmod status` tells these modules from the old out-of-tree
 * project's by (it used the same module names and link kinds): MODULE_INFO
 * for a module file (`modinfo -F greoip eoip.ko`), and an ELF note for a
 * loaded module, whose .modinfo is gone but whose note sections the kernel
 * shows in /sys/module/<name>/notes/. Keep the version equal to dkms.conf's
 * PACKAGE_VERSION (test/module-manager/install.test.ts checks).
 */
#define GREOIP_KMOD_VERSION "0.1.0"

unsigned int eoip_net_id __read_mostly;

static int __net_init eoip_net_init(struct net *net)
{
	eoip_table_init(eoip_net(net));
	return 0;
}

/*
 * A dying namespace's devices must go before its table does. Our exit_batch
 * runs before the core's default_device_exit_batch (pernet device ops exit in
 * reverse order of registration), so delete them here. No device can live
 * elsewhere: they are netns_local.
 */
static void __net_exit eoip_net_exit_batch(struct list_head *net_list)
{
	struct net_device *dev, *aux;
	struct net *net;
	LIST_HEAD(kill);

	rtnl_lock();
	list_for_each_entry(net, net_list, exit_list) {
		for_each_netdev_safe(net, dev, aux)
			if (dev->rtnl_link_ops == &eoip_link_ops)
				unregister_netdevice_queue(dev, &kill);
	}
	unregister_netdevice_many(&kill);
	rtnl_unlock();
}

static struct pernet_operations eoip_net_ops = {
	.init		= eoip_net_init,
	.exit_batch	= eoip_net_exit_batch,
	.id		= &eoip_net_id,
	.size		= sizeof(struct eoip_net),
};

static int __init eoip_module_init(void)
{
	int err;

	err = register_pernet_device(&eoip_net_ops);
	if (err)
		return err;
	err = eoip_receive_init();
	if (err)
		goto err_pernet;
	err = rtnl_link_register(&eoip_link_ops);
	if (err)
		goto err_receive;
	pr_info("%s: MikroTik EoIP%s tunnels (greoip)\n", EOIP_KIND, EOIP_IPV6 ? "v6" : "");
	return 0;

err_receive:
	eoip_receive_exit();
err_pernet:
	unregister_pernet_device(&eoip_net_ops);
	return err;
}

static void __exit eoip_module_exit(void)
{
	rtnl_link_unregister(&eoip_link_ops);
	eoip_receive_exit();
	unregister_pernet_device(&eoip_net_ops);
	/* changelink frees replaced configs with kfree_rcu: let them go first. */
	rcu_barrier();
}

module_init(eoip_module_init);
module_exit(eoip_module_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("greoip");
MODULE_ALIAS_RTNL_LINK(EOIP_KIND);
MODULE_VERSION(GREOIP_KMOD_VERSION);
MODULE_INFO(greoip, GREOIP_KMOD_VERSION);
ELFNOTE32("greoip", 1, GREOIP_KMOD_VERSION);
