/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel API differences between the kernels kmod/ is built and tested on,
 * Debian 12's 6.1 (6.1.0-57, 6.1.192) and 6.12 (6.12.118), and newer ones.
 * Each shim is decided by what the kernel's headers contain: a macro that
 * exists or not, __has_include(), a Kbuild probe (Kbuild) where a stable
 * backport makes version numbers lie, or a version check where both tested
 * trees agree with it. Each names the upstream commit that changed the API.
 */
#ifndef _EOIP_COMPAT_H
#define _EOIP_COMPAT_H

#include <linux/version.h>
#include <linux/timer.h>
#include <linux/netdevice.h>
#include <linux/netlink.h>
#include <net/flow.h>
#include <net/route.h>

/* "net: move gso declarations and functions to their own files" (6.5): skb_gso_segment(). */
#if __has_include(<net/gso.h>)
#include <net/gso.h>
#endif

/*
 * "timers: Rename del_timer_sync() to timer_delete_sync()" (6.2, and 6.1.84
 * in stable). A function, not a macro: by version, which both trees confirm.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 84)
#define timer_delete_sync del_timer_sync
#endif

/* "treewide, timers: Rename from_timer() to timer_container_of()" (6.16). */
#ifndef timer_container_of
#define timer_container_of from_timer
#endif

/*
 * "netdev_features: convert NETIF_F_LLTX to dev->lltx" and "netdev_features:
 * convert NETIF_F_NETNS_LOCAL to dev->netns_local" (6.12) turned the feature
 * bits into net_device fields; "net: rename netns_local to netns_immutable"
 * (6.15, and 6.12.115 in stable) renamed the second. Kbuild probes
 * <linux/netdevice.h> for EOIP_HAVE_NETNS_IMMUTABLE: no version tells it.
 */
static inline void eoip_dev_set_lltx_netns_local(struct net_device *dev)
{
#ifdef NETIF_F_LLTX
	dev->features |= NETIF_F_LLTX;
#else
	dev->lltx = true;
#endif
#if defined(NETIF_F_NETNS_LOCAL)
	dev->features |= NETIF_F_NETNS_LOCAL;
#elif defined(EOIP_HAVE_NETNS_IMMUTABLE)
	dev->netns_immutable = true;
#else
	dev->netns_local = true;
#endif
}

/* "ipv4: Convert ->flowi4_tos to dscp_t." (6.18): flowi4_tos became flowi4_dscp. */
static inline void eoip_flowi4_set_tos(struct flowi4 *fl4, u8 tos)
{
#ifdef flowi4_tos
	fl4->flowi4_tos = tos & IPTOS_TOS_MASK;
#else
	fl4->flowi4_dscp = inet_dsfield_to_dscp(tos);
#endif
}

/*
 * "netlink: make range pointers in policies const" (6.7): before it,
 * NLA_POLICY_FULL_RANGE() takes a pointer to a writable range (6.1's
 * struct nla_policy has a plain `struct netlink_range_validation *range`).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
#define EOIP_NLA_RANGE_CONST const
#else
#define EOIP_NLA_RANGE_CONST
#endif

/*
 * "netlink: add support for formatted extack messages" (6.2): the message can
 * name the tunnel that holds the keys; 6.1 keeps constant strings only.
 */
#ifdef NL_SET_ERR_MSG_FMT
#define EOIP_ERR_DUPLICATE(extack, name)					\
	NL_SET_ERR_MSG_FMT(extack, "tunnel %s already has this remote, local and tunnel id", name)
#else
#define EOIP_ERR_DUPLICATE(extack, name)					\
	NL_SET_ERR_MSG(extack, "another tunnel already has this remote, local and tunnel id")
#endif

/* "rtnetlink: Pack newlink() params into struct" (6.15). */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0)
#define EOIP_NEWLINK_ARGS						\
	struct net_device *dev, struct rtnl_newlink_params *params,	\
	struct netlink_ext_ack *extack
#define EOIP_NEWLINK_TB (params->tb)
#define EOIP_NEWLINK_DATA (params->data)
#else
#define EOIP_NEWLINK_ARGS						\
	struct net *src_net, struct net_device *dev, struct nlattr *tb[],	\
	struct nlattr *data[], struct netlink_ext_ack *extack
#define EOIP_NEWLINK_TB (tb)
#define EOIP_NEWLINK_DATA (data)
#endif

#endif /* _EOIP_COMPAT_H */
