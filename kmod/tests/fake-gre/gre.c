// SPDX-License-Identifier: GPL-2.0
/*
 * A stand-in for the old eoip project's patched gre.ko, for
 * test/kernel/kmod-cli.test.ts: an out-of-tree module named gre, so the kernel
 * taints it O, which is what `greoip kmod status` looks for. It provides
 * nothing (ip_gre and ip6_gre cannot load on it); the test loads it only
 * after unloading the stock gre and those.
 */
#include <linux/module.h>

static int __init fake_gre_init(void)
{
	return 0;
}

static void __exit fake_gre_exit(void)
{
}

module_init(fake_gre_init);
module_exit(fake_gre_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("test stand-in for a replaced GRE demultiplexer (out of tree, named gre)");
