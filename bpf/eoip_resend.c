// SPDX-License-Identifier: GPL-2.0-only
/*
 * The second half of sending an encapsulated non-IP frame (ARP, VLAN-tagged,
 * anything bpf_skb_adjust_room refuses), a TC program on the ingress of the
 * near end of a tunnel's segmenter veth pair. eoip_encap.c pushed the outer
 * headers with bpf_skb_change_head, which leaves skb->protocol naming the
 * inner EtherType; bpf_redirect_neigh routes by skb->protocol, so the packet
 * is sent out of the pair's far end first. Received here, the stack has
 * parsed its Ethernet header anew: skb->protocol is the outer family, and the
 * packet can be routed out of the underlay like any other.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "eoip.h"
#include "eoip_maps.h"

SEC("tc")
int eoip_resend(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	const struct eoip_tx *tx = bpf_map_lookup_elem(&eoip_tx, &ifindex);
	__u16 want;

	if (!tx || tx->role != EOIP_ROLE_RESEND) {
		eoip_count_verdict(EOIP_V_TX_NO_TUNNEL);
		return TC_ACT_SHOT; /* nothing else may enter the tunnel this way */
	}
	want = tx->family == EOIP_IPV6_VERSION ? ETH_P_IPV6 : ETH_P_IP;
	if (skb->protocol != bpf_htons(want)) {
		struct eoip_stats *stats = eoip_stats_of(tx->slot);

		if (stats)
			stats->tx_errors += 1;
		return TC_ACT_SHOT;
	}
	return bpf_redirect_neigh(tx->underlay_ifindex, NULL, 0, 0);
}

char _license[] SEC("license") = "GPL";
