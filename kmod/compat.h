/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel API differences between 6.1 (Debian 12, where this is built and
 * tested) and newer kernels. Only 6.1 is tested; the newer branches follow the
 * upstream renames so DKMS builds have a chance on newer kernels.
 */
#ifndef _EOIP_COMPAT_H
#define _EOIP_COMPAT_H

#include <linux/version.h>
#include <linux/timer.h>
#include <linux/netdevice.h>
#include <linux/netlink.h>
#include <net/flow.h>
#include <net/route.h>

/* skb_gso_segment() moved from <linux/netdevice.h> to <net/gso.h> in 6.4. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
#include <net/gso.h>
#endif

/* Renamed in 6.2 (Debian's 6.1 has both). */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)
#define timer_delete_sync del_timer_sync
#endif

/* from_timer() became timer_container_of() in 6.16. */
#ifndef timer_container_of
#define timer_container_of from_timer
#endif

/* Atomic device error counters came with 6.6 (and 6.1.y stable); before, plain. */
#ifndef DEV_STATS_INC
#define DEV_STATS_INC(dev, field) ((dev)->stats.field++)
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

/* flowi4_tos became flowi4_dscp (dscp_t) in 6.15. */
static inline void eoip_flowi4_set_tos(struct flowi4 *fl4, u8 tos)
{
#ifdef flowi4_tos
	fl4->flowi4_tos = tos & IPTOS_TOS_MASK;
#else
	fl4->flowi4_dscp = inet_dsfield_to_dscp(tos);
#endif
}

/*
 * Formatted extack messages (6.3+) let the message carry the rejected value;
 * 6.1 only keeps a pointer to a constant string, so there the message names the
 * attribute and the allowed range only.
 */
#ifdef NL_SET_ERR_MSG_ATTR_FMT
#define EOIP_ERR_RANGE(extack, attr, what, value, range)		\
	NL_SET_ERR_MSG_ATTR_FMT(extack, attr, what " %u out of range " range, value)
#else
#define EOIP_ERR_RANGE(extack, attr, what, value, range)		\
	NL_SET_ERR_MSG_ATTR(extack, attr, what " out of range " range)
#endif

#ifdef NL_SET_ERR_MSG_FMT
#define EOIP_ERR_DUPLICATE(extack, name)					\
	NL_SET_ERR_MSG_FMT(extack, "tunnel %s already has this remote, local and tunnel id", name)
#else
#define EOIP_ERR_DUPLICATE(extack, name)					\
	NL_SET_ERR_MSG(extack, "another tunnel already has this remote, local and tunnel id")
#endif

/* 6.15 passes newlink its arguments in struct rtnl_newlink_params. */
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
