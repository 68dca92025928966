/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by eoip.ko (EOIP_IPV6 0) and eoipv6.ko (EOIP_IPV6 1): the tunnel, its
 * configuration, the per-namespace lookup table and the functions the concern
 * files call across each other. Wire formats: docs/eoip-wire.md.
 */
#ifndef _EOIP_H
#define _EOIP_H

#include <linux/etherdevice.h>
#include <linux/if_ether.h>
#include <linux/if_tunnel.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/netdevice.h>
#include <linux/rtnetlink.h>
#include <linux/skbuff.h>
#include <linux/spinlock.h>
#include <linux/timer.h>
#include <net/dst_cache.h>
#include <net/gro_cells.h>
#include <net/ipv6.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/rtnetlink.h>

#include "compat.h"
#include "uapi/linux/if_eoip.h"

#ifndef EOIP_IPV6
#error "build eoip.c or eoipv6.c: they set EOIP_IPV6 and include the concern files"
#endif

#if EOIP_IPV6
#define EOIP_KIND		"eoipv6"
/* EtherIP's protocol number (RFC 3378), which <linux/in.h> does not name */
#define EOIP6_NEXTHDR		97
#define EOIP_MAX_TID		EOIPV6_MAX_TUNNEL_ID
/* byte 0: tid bits 11-8 in the high nibble, version 3 in the low one; byte 1: tid bits 7-0 */
#define EOIP_HLEN		2
#define EOIP_OUTER_HLEN		(sizeof(struct ipv6hdr) + EOIP_HLEN)
/* The payload length field bounds what one (fragmented) packet carries. */
#define EOIP_MAX_FRAME		(IPV6_MAXPLEN - EOIP_HLEN)
#define EOIP_ADDR_LEN		sizeof(struct in6_addr)
#else
#define EOIP_KIND		"eoip"
#define EOIP_MAX_TID		EOIP_MAX_TUNNEL_ID
/* 20 01 64 00, frame length (big-endian), tunnel id (little-endian) */
#define EOIP_HLEN		8
#define EOIP_OUTER_HLEN		(sizeof(struct iphdr) + EOIP_HLEN)
#define EOIP_MAX_FRAME		(IP_MAX_MTU - EOIP_OUTER_HLEN)
#define EOIP_ADDR_LEN		sizeof(__be32)
#endif

/* IPv4 and IPv6 code share the table and config: one union, one family per module. */
union eoip_addr {
	__be32 ip4;
	struct in6_addr ip6;
};

/*
 * One tunnel's settings. Never changed once published: changelink publishes a
 * new copy, so the datapath reads a consistent set under RCU.
 */
struct eoip_config {
	union eoip_addr local;	/* any: accept any local address, route picks the source */
	union eoip_addr remote;
	u32 link;		/* underlay ifindex, 0: any */
	u16 tid;
	u8 ttl;			/* 0: the route's hop limit */
	u8 tos;			/* EOIP_TOS_INHERIT: from the frame's IP header */
	u32 ka_interval;	/* seconds, 0: keepalive none */
	u8 ka_retries;
	struct rcu_head rcu;
};

/* The values are the uapi's IFLA_EOIP_KA_STATE numbers. */
enum eoip_ka_state {
	EOIP_KA_OFF = EOIP_KA_STATE_OFF,	/* keepalive none: no sending, no checking, carrier on */
	EOIP_KA_WAITING = EOIP_KA_STATE_WAITING, /* none received yet: carrier on (!keepalive peers) */
	EOIP_KA_UP = EOIP_KA_STATE_UP,
	EOIP_KA_DOWN = EOIP_KA_STATE_DOWN,	/* interval x retries of silence: carrier off, still sending */
};

/* RouterOS keepalive, the same machine as src/eoip/keepalive.ts. */
struct eoip_keepalive {
	spinlock_t lock;	/* state, times; taken in softirq (rx, timer) and with BH off */
	struct timer_list timer;
	enum eoip_ka_state state;
	bool heard;		/* a keepalive was ever received (last_rx valid) */
	unsigned long last_rx;	/* jiffies */
	unsigned long next_send;
	unsigned long interval;	/* jiffies, 0: off */
	unsigned long timeout;	/* interval x retries, jiffies */
	u32 rx_count;		/* keepalives received, sent: reported in dumps */
	u32 tx_count;
};

/* netdev_priv() of an eoip/eoipv6 device. */
struct eoip_tunnel {
	struct net_device *dev;
	struct eoip_config __rcu *cfg;
	struct hlist_node node;	/* in eoip_net.table by (remote, tid); RTNL writes, RCU reads */
	struct dst_cache dst_cache;
	struct gro_cells gro_cells;
	struct eoip_keepalive ka;
	bool initialized;	/* ndo_init succeeded: the destructor owns cfg */
};

#define EOIP_HASH_BITS 8

/* Per network namespace (pernet ops): the receive lookup table. */
struct eoip_net {
	struct hlist_head table[1 << EOIP_HASH_BITS];
	unsigned int tunnels;	/* devices in this namespace (RTNL): receive hook on while > 0 */
};

extern unsigned int eoip_net_id;
extern struct rtnl_link_ops eoip_link_ops;

static inline struct eoip_net *eoip_net(const struct net *net)
{
	return net_generic(net, eoip_net_id);
}

static inline bool eoip_addr_equal(const union eoip_addr *a, const union eoip_addr *b)
{
#if EOIP_IPV6
	return ipv6_addr_equal(&a->ip6, &b->ip6);
#else
	return a->ip4 == b->ip4;
#endif
}

static inline bool eoip_addr_any(const union eoip_addr *a)
{
#if EOIP_IPV6
	return ipv6_addr_any(&a->ip6);
#else
	return a->ip4 == htonl(INADDR_ANY);
#endif
}

/* lookup.c */
void eoip_table_init(struct eoip_net *en);
struct eoip_tunnel *eoip_lookup(struct eoip_net *en, const union eoip_addr *remote,
				const union eoip_addr *local, u16 tid);
struct eoip_tunnel *eoip_find(struct eoip_net *en, const struct eoip_config *cfg);
void eoip_table_add(struct eoip_net *en, struct eoip_tunnel *t);
void eoip_table_del(struct eoip_tunnel *t);

/* netlink.c */
extern const struct nla_policy eoip_policy[IFLA_EOIP_MAX + 1];
void eoip_config_defaults(struct eoip_config *cfg);
int eoip_validate(struct nlattr *tb[], struct nlattr *data[], struct netlink_ext_ack *extack);
int eoip_config_apply(struct net *net, struct eoip_config *cfg, struct nlattr *data[],
		      struct netlink_ext_ack *extack);
size_t eoip_get_size(const struct net_device *dev);
int eoip_fill_info(struct sk_buff *skb, const struct net_device *dev);

/* keepalive.c */
void eoip_keepalive_init(struct eoip_tunnel *t, const struct eoip_config *cfg);
void eoip_keepalive_open(struct eoip_tunnel *t);
void eoip_keepalive_stop(struct eoip_tunnel *t);
void eoip_keepalive_reconfigure(struct eoip_tunnel *t, const struct eoip_config *cfg);
void eoip_keepalive_received(struct eoip_tunnel *t);

/* receive.c and receive4.c / receive6.c */
void eoip_receive_frame(struct eoip_tunnel *t, struct sk_buff *skb, u8 outer_dsfield);
int eoip_receive_init(void);
void eoip_receive_exit(void);
int eoip_receive_net_start(struct net *net);
void eoip_receive_net_stop(struct net *net);

/* send.c and send4.c / send6.c */
netdev_tx_t eoip_xmit(struct sk_buff *skb, struct net_device *dev);
void eoip_send_keepalive(struct eoip_tunnel *t);
u8 eoip_inner_dsfield(struct sk_buff *skb);
int eoip_encap_xmit(struct eoip_tunnel *t, const struct eoip_config *cfg, struct sk_buff *skb);

#endif /* _EOIP_H */
