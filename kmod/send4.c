// SPDX-License-Identifier: GPL-2.0
/*
 * EoIP over IPv4 transmit: the 8-byte EoIP header and an outer IPv4 header
 * with DF clear, handed to ip_local_out(), which fragments packets larger than
 * the path MTU (RouterOS runs tunnels at MTU 1500 this way) and passes them
 * through LOCAL_OUT/POST_ROUTING like any local packet.
 */
#include <net/inet_ecn.h>
#include <net/ip.h>
#include <net/route.h>

#include "eoip.h"

static void eoip4_push_header(struct sk_buff *skb, unsigned int frame_len, u16 tid)
{
	u8 *h = __skb_push(skb, EOIP_HLEN);

	h[0] = 0x20;	/* K bit, GRE version 1 */
	h[1] = 0x01;
	h[2] = 0x64;	/* protocol 0x6400 */
	h[3] = 0x00;
	put_unaligned_be16(frame_len, h + 4);
	put_unaligned_le16(tid, h + 6);	/* little-endian, unlike the rest */
}

/*
 * The route to the remote end. It only depends on the config unless the TOS
 * is inherited per frame, so then it is looked up each time and otherwise
 * cached per CPU (dst_cache; reset by changelink).
 */
static struct rtable *eoip4_route(struct eoip_tunnel *t, const struct eoip_config *cfg, u8 tos,
				  __be32 *saddr)
{
	bool cacheable = cfg->tos != EOIP_TOS_INHERIT;
	struct flowi4 fl4 = {};
	struct rtable *rt;

	if (cacheable) {
		rt = dst_cache_get_ip4(&t->dst_cache, saddr);
		if (rt)
			return rt;
	}
	fl4.daddr = cfg->remote.ip4;
	fl4.saddr = cfg->local.ip4;
	fl4.flowi4_oif = cfg->link;
	fl4.flowi4_proto = IPPROTO_GRE;
	eoip_flowi4_set_tos(&fl4, tos);
	rt = ip_route_output_key(dev_net(t->dev), &fl4);
	if (IS_ERR(rt))
		return rt;
	/* A route to the remote through this very tunnel would recurse forever. */
	if (rt->dst.dev == t->dev) {
		ip_rt_put(rt);
		return ERR_PTR(-ELOOP);
	}
	if (cacheable)
		dst_cache_set_ip4(&t->dst_cache, &rt->dst, fl4.saddr);
	*saddr = fl4.saddr;
	return rt;
}

static void eoip4_push_iphdr(struct sk_buff *skb, const struct eoip_config *cfg, __be32 saddr,
			     u8 tos, u8 ttl)
{
	struct iphdr *iph;

	skb_push(skb, sizeof(*iph));
	skb_reset_network_header(skb);
	iph = ip_hdr(skb);
	iph->version = 4;
	iph->ihl = sizeof(*iph) >> 2;
	iph->tos = tos;
	iph->frag_off = 0;	/* DF clear: the IP layer fragments instead of dropping */
	iph->ttl = ttl;
	iph->protocol = IPPROTO_GRE;
	iph->saddr = saddr;
	iph->daddr = cfg->remote.ip4;
	/* tot_len and the checksum are written by ip_local_out(). */
}

/* Encapsulates the frame in @skb (empty: a keepalive) and sends it. Consumes @skb. */
int eoip_encap_xmit(struct eoip_tunnel *t, const struct eoip_config *cfg, struct sk_buff *skb)
{
	struct net_device *dev = t->dev;
	struct net *net = dev_net(dev);
	unsigned int frame_len = skb->len;
	u8 inner = eoip_inner_dsfield(skb);
	u8 tos = cfg->tos == EOIP_TOS_INHERIT ? inner : cfg->tos;
	struct rtable *rt;
	__be32 saddr;
	int err;

	if (skb->ip_summed == CHECKSUM_PARTIAL && skb_checksum_help(skb))
		goto drop;
	rt = eoip4_route(t, cfg, tos, &saddr);
	if (IS_ERR(rt)) {
		if (PTR_ERR(rt) == -ELOOP)
			DEV_STATS_INC(dev, collisions);
		DEV_STATS_INC(dev, tx_carrier_errors);
		goto drop;
	}
	if (skb_cow_head(skb, LL_RESERVED_SPACE(rt->dst.dev) + EOIP_OUTER_HLEN)) {
		ip_rt_put(rt);
		goto drop;
	}
	eoip4_push_header(skb, frame_len, cfg->tid);

	skb_scrub_packet(skb, false);
	skb_dst_set(skb, &rt->dst);
	memset(IPCB(skb), 0, sizeof(*IPCB(skb)));
	eoip4_push_iphdr(skb, cfg, saddr, INET_ECN_encapsulate(tos, inner),
			 cfg->ttl ? cfg->ttl : ip4_dst_hoplimit(&rt->dst));
	skb->protocol = htons(ETH_P_IP);
	/* Fragmentable packets need distinct IP ids. */
	ip_select_ident(net, skb, NULL);

	err = ip_local_out(net, NULL, skb);
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
