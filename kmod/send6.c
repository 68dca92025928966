// SPDX-License-Identifier: GPL-2.0
/*
 * EoIPv6 transmit: the 2-byte EoIPv6 header (no length field) and an outer
 * IPv6 header with next header 97, handed to ip6_local_out(). ignore_df lets
 * the IPv6 layer fragment packets larger than the path MTU at the source, the
 * IPv6 equivalent of EoIP's clear DF bit.
 */
#include <net/inet_ecn.h>
#include <net/ip6_route.h>
#include <net/ipv6.h>

#include "eoip.h"

static void eoip6_push_header(struct sk_buff *skb, u16 tid)
{
	u8 *h = __skb_push(skb, EOIP_HLEN);

	h[0] = ((tid >> 8) & 0x0f) << 4 | 0x03;	/* version 3 in the LOW nibble */
	h[1] = tid & 0xff;
}

/*
 * The route to the remote end (and the source address, when no local one is
 * configured). Cached per CPU unless the traffic class follows each frame.
 */
static struct dst_entry *eoip6_route(struct eoip_tunnel *t, const struct eoip_config *cfg,
				     struct flowi6 *fl6)
{
	bool cacheable = cfg->tos != EOIP_TOS_INHERIT;
	struct dst_entry *dst;

	if (cacheable) {
		dst = dst_cache_get_ip6(&t->dst_cache, &fl6->saddr);
		if (dst)
			return dst;
	}
	dst = ip6_dst_lookup_flow(dev_net(t->dev), NULL, fl6, NULL);
	if (IS_ERR(dst))
		return dst;
	/* A route to the remote through this very tunnel would recurse forever. */
	if (dst->dev == t->dev) {
		dst_release(dst);
		return ERR_PTR(-ELOOP);
	}
	if (cacheable)
		dst_cache_set_ip6(&t->dst_cache, dst, &fl6->saddr);
	return dst;
}

static void eoip6_push_ipv6hdr(struct sk_buff *skb, struct net *net, struct flowi6 *fl6,
			       u8 tclass, u8 hop_limit)
{
	struct ipv6hdr *ip6h;
	__be32 label = ip6_make_flowlabel(net, skb, 0, true, fl6);

	skb_push(skb, sizeof(*ip6h));
	skb_reset_network_header(skb);
	ip6h = ipv6_hdr(skb);
	ip6_flow_hdr(ip6h, tclass, label);
	ip6h->nexthdr = EOIP6_NEXTHDR;
	ip6h->hop_limit = hop_limit;
	ip6h->saddr = fl6->saddr;
	ip6h->daddr = fl6->daddr;
	/* payload_len is written by ip6_local_out(). */
}

/* Encapsulates the frame in @skb (empty: a keepalive) and sends it. Consumes @skb. */
int eoip_encap_xmit(struct eoip_tunnel *t, const struct eoip_config *cfg, struct sk_buff *skb)
{
	struct net_device *dev = t->dev;
	struct net *net = dev_net(dev);
	u8 inner = eoip_inner_dsfield(skb);
	u8 tclass = cfg->tos == EOIP_TOS_INHERIT ? inner : cfg->tos;
	struct flowi6 fl6 = {};
	struct dst_entry *dst;
	int err;

	if (skb->ip_summed == CHECKSUM_PARTIAL && skb_checksum_help(skb))
		goto drop;
	fl6.daddr = cfg->remote.ip6;
	fl6.saddr = cfg->local.ip6;
	fl6.flowi6_oif = cfg->link;
	fl6.flowi6_proto = EOIP6_NEXTHDR;
	fl6.flowlabel = ip6_make_flowinfo(tclass, 0);
	dst = eoip6_route(t, cfg, &fl6);
	if (IS_ERR(dst)) {
		if (PTR_ERR(dst) == -ELOOP)
			DEV_STATS_INC(dev, collisions);
		DEV_STATS_INC(dev, tx_carrier_errors);
		goto drop;
	}
	if (skb_cow_head(skb, LL_RESERVED_SPACE(dst->dev) + EOIP_OUTER_HLEN)) {
		dst_release(dst);
		goto drop;
	}
	eoip6_push_header(skb, cfg->tid);

	skb_scrub_packet(skb, false);
	skb_dst_set(skb, dst);
	memset(IP6CB(skb), 0, sizeof(*IP6CB(skb)));
	eoip6_push_ipv6hdr(skb, net, &fl6, INET_ECN_encapsulate(tclass, inner),
			   cfg->ttl ? cfg->ttl : ip6_dst_hoplimit(dst));
	skb->protocol = htons(ETH_P_IPV6);
	skb->ignore_df = 1;

	err = ip6_local_out(net, NULL, skb);
	if (unlikely(net_xmit_eval(err))) {
		DEV_STATS_INC(dev, tx_errors);
		return -EIO;
	}
	return 0;
drop:
	DEV_STATS_INC(dev, tx_dropped);
	kfree_skb(skb);
	return -ENOBUFS;
}
