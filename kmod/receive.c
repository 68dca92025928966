// SPDX-License-Identifier: GPL-2.0
/*
 * The family-independent half of receive: hands a decapsulated Ethernet frame
 * to the tunnel device. receive4.c / receive6.c find the tunnel and strip the
 * outer headers.
 */
#include <net/inet_ecn.h>

#include "eoip.h"

/*
 * RFC 6040 decapsulation: an outer CE mark reaches ECN-capable inner packets,
 * and an inner packet that is not ECN-capable but was marked CE on the way is
 * dropped (the congestion signal cannot be passed on). Frames that are not
 * IP, or too short to tell, pass unchanged: judging them is the stack's job.
 */
static bool eoip_ecn_decapsulate(struct sk_buff *skb, u8 outer)
{
	u8 inner;

	switch (skb->protocol) {
	case htons(ETH_P_IP):
		if (!pskb_network_may_pull(skb, sizeof(struct iphdr)))
			return true;
		inner = ip_hdr(skb)->tos;
		break;
	case htons(ETH_P_IPV6):
		if (!pskb_network_may_pull(skb, sizeof(struct ipv6hdr)))
			return true;
		inner = ipv6_get_dsfield(ipv6_hdr(skb));
		break;
	default:
		return true;
	}
	return INET_ECN_decapsulate(skb, outer, inner) < 2;
}

/*
 * @skb holds exactly one Ethernet frame (at least ETH_HLEN bytes of it
 * linear), with the outer headers pulled and the trailing padding trimmed.
 * Consumes @skb. Softirq, under RCU.
 */
void eoip_receive_frame(struct eoip_tunnel *t, struct sk_buff *skb, u8 outer_dsfield)
{
	struct net_device *dev = t->dev;
	unsigned int len = skb->len;

	/* An administratively down interface takes no traffic (keepalives still count). */
	if (unlikely(!(dev->flags & IFF_UP))) {
		DEV_STATS_INC(dev, rx_dropped);
		kfree_skb(skb);
		return;
	}
	/* The outer packet's conntrack entry, dst and marks say nothing about the frame. */
	skb_scrub_packet(skb, false);
	skb->protocol = eth_type_trans(skb, dev);
	skb_postpull_rcsum(skb, eth_hdr(skb), ETH_HLEN);
	skb_reset_network_header(skb);

	if (unlikely(!eoip_ecn_decapsulate(skb, outer_dsfield))) {
		DEV_STATS_INC(dev, rx_frame_errors);
		DEV_STATS_INC(dev, rx_errors);
		kfree_skb(skb);
		return;
	}
	/* Counted like an Ethernet NIC counts: the whole frame. */
	dev_sw_netstats_rx_add(dev, len);
	gro_cells_receive(&t->gro_cells, skb);
}
