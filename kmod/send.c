// SPDX-License-Identifier: GPL-2.0
/*
 * The family-independent half of transmit: ndo_start_xmit and the keepalive
 * packet. send4.c / send6.c route and add the outer headers.
 *
 * No GSO and no checksum offload yet: the device advertises neither, so the
 * stack segments and checksums frames before ndo_start_xmit, and an outer
 * packet larger than the path MTU is fragmented by the IP layer (DF clear, as
 * RouterOS sends). Offloads would need the encapsulation-aware path gretap
 * uses (skb->encapsulation, hw_enc_features) and are left for later.
 */
#include "eoip.h"

/*
 * DSCP/ECN byte of the IP packet inside the frame (0 for anything else), for
 * `tos inherit` and ECN. Parsed from the frame itself: bridged and packet
 * socket frames need not have skb->protocol or the network header set.
 */
u8 eoip_inner_dsfield(struct sk_buff *skb)
{
	__be16 proto;

	if (!pskb_may_pull(skb, ETH_HLEN))
		return 0;
	proto = ((const struct ethhdr *)skb->data)->h_proto;
	if (proto == htons(ETH_P_IP) && pskb_may_pull(skb, ETH_HLEN + sizeof(struct iphdr)))
		return ipv4_get_dsfield((const struct iphdr *)(skb->data + ETH_HLEN));
	if (proto == htons(ETH_P_IPV6) && pskb_may_pull(skb, ETH_HLEN + sizeof(struct ipv6hdr)))
		return ipv6_get_dsfield((const struct ipv6hdr *)(skb->data + ETH_HLEN));
	return 0;
}

/* Called with BH off under rcu_read_lock_bh (dev_queue_xmit); lockless (LLTX). */
netdev_tx_t eoip_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct eoip_tunnel *t = netdev_priv(dev);
	unsigned int len = skb->len;

	/* The length field (and the outer packet's) cannot describe more. */
	if (unlikely(len > EOIP_MAX_FRAME)) {
		DEV_STATS_INC(dev, tx_dropped);
		kfree_skb(skb);
		return NETDEV_TX_OK;
	}
	/*
	 * Hash the inner flow now, while the stack's headers are in place: the
	 * underlay's queue selection and EoIPv6's flow label then follow it.
	 */
	skb_get_hash(skb);
	if (eoip_encap_xmit(t, rcu_dereference_bh(t->cfg), skb) == 0)
		dev_sw_netstats_tx_add(dev, 1, len);
	return NETDEV_TX_OK;
}

/*
 * From the keepalive timer (softirq). Bypasses the qdisc on purpose: with
 * the carrier off the qdisc drops everything, and RouterOS keeps sending
 * keepalives while the tunnel is down. Not counted as traffic.
 */
void eoip_send_keepalive(struct eoip_tunnel *t)
{
	struct sk_buff *skb;
	unsigned int room = LL_MAX_HEADER + EOIP_OUTER_HLEN;

	skb = alloc_skb(room, GFP_ATOMIC);
	if (!skb)
		return;
	skb_reserve(skb, room);
	skb->dev = t->dev;
	rcu_read_lock_bh();
	eoip_encap_xmit(t, rcu_dereference_bh(t->cfg), skb);
	rcu_read_unlock_bh();
}
