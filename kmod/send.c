// SPDX-License-Identifier: GPL-2.0
/*
 * The family-independent half of transmit: ndo_start_xmit and the keepalive
 * packet. send4.c / send6.c route and add the outer headers.
 *
 * Offloads end here. The device offers scatter-gather, checksum offload and
 * software GSO (device.c), so the stack hands over TCP/UDP/SCTP superpackets
 * and frames whose checksum is left to finish. None of that may reach the
 * wire: every EoIP packet carries its own frame's length, which rules out
 * gretap's way (gre_gso_segment copies one header onto every segment), and
 * the peer (RouterOS, or a userland raw socket) never finishes a checksum.
 * So eoip_xmit segments superpackets itself, asking for complete checksums,
 * and encapsulates each segment with its own length; eoip_encap_xmit finishes
 * any checksum still partial. An outer packet larger than the path MTU is
 * still fragmented by the IP layer (DF clear, as RouterOS sends).
 *
 * For TCP this is work the core did anyway, moved: TCP builds superpackets
 * whatever the device offers, and validate_xmit_skb segments them before
 * ndo_start_xmit when the device has no GSO. So TCP throughput is unchanged
 * (tests/bench.sh). What it adds: UDP GSO (UDP_SEGMENT fails with EIO
 * unless the route's device offers checksum offload) and one flow hash per
 * superpacket instead of one per segment.
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

/* One frame, never a superpacket: encapsulated, sent and counted. Consumes @skb. */
static void eoip_xmit_frame(struct eoip_tunnel *t, const struct eoip_config *cfg,
			    struct sk_buff *skb)
{
	unsigned int len = skb->len;

	/* The length field (and the outer packet's) cannot describe more. */
	if (unlikely(len > EOIP_MAX_FRAME)) {
		DEV_STATS_INC(t->dev, tx_dropped);
		kfree_skb(skb);
		return;
	}
	if (eoip_encap_xmit(t, cfg, skb) == 0)
		dev_sw_netstats_tx_add(t->dev, 1, len);
}

/*
 * Segments a GSO superpacket in software and sends each segment as its own
 * frame. The features offer scatter-gather only: no checksum offload, so
 * every segment comes out with its TCP/UDP checksum (or SCTP CRC) complete,
 * and no GSO type, so nothing is left unsegmented. Consumes @skb.
 */
static void eoip_xmit_gso(struct eoip_tunnel *t, const struct eoip_config *cfg,
			  struct sk_buff *skb)
{
	struct sk_buff *segs, *seg, *next;

	segs = skb_gso_segment(skb, NETIF_F_SG);
	/* NULL would mean "send it whole", which these features never allow. */
	if (IS_ERR_OR_NULL(segs)) {
		DEV_STATS_INC(t->dev, tx_dropped);
		kfree_skb(skb);
		return;
	}
	consume_skb(skb);
	skb_list_walk_safe(segs, seg, next) {
		skb_mark_not_on_list(seg);
		eoip_xmit_frame(t, cfg, seg);
	}
}

/* Called with BH off under rcu_read_lock_bh (dev_queue_xmit); lockless (LLTX). */
netdev_tx_t eoip_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct eoip_tunnel *t = netdev_priv(dev);
	const struct eoip_config *cfg = rcu_dereference_bh(t->cfg);

	/*
	 * Hash the inner flow now, while the stack's headers are in place: the
	 * underlay's queue selection and EoIPv6's flow label then follow it.
	 * Segments inherit the hash of their superpacket.
	 */
	skb_get_hash(skb);
	if (skb_is_gso(skb))
		eoip_xmit_gso(t, cfg, skb);
	else
		eoip_xmit_frame(t, cfg, skb);
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
