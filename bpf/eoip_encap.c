// SPDX-License-Identifier: GPL-2.0-only
/*
 * EoIP/EoIPv6 encapsulation, a TC program on the egress of a tunnel's tap
 * (and on the ingress of the far end of its segmenter veth). The frame the
 * stack sends into the tap becomes an EoIP packet leaving the underlay:
 *
 *   [Ethernet][inner...]  ->  [Ethernet][IPv4 | IPv6][EoIP | EoIPv6][Ethernet][inner...]
 *
 * The outer header is the one the kernel module and RouterOS build: IPv4
 * with DF clear, the tunnel's TTL and TOS, protocol 47, then 20 01 64 00,
 * the frame length and the little-endian tunnel id; or IPv6 with the
 * traffic class and hop limit, next header 97, and the two EoIPv6 bytes.
 * bpf_redirect_neigh() routes it out of the underlay and fills in the MAC
 * addresses (resolving the neighbour when needed).
 *
 * What this program leaves to the daemon (TC_ACT_UNSPEC, i.e. TCX_NEXT: the
 * frame stays on the tap, whose reader is the userland datapath, and other
 * programs on the hook still run): frames larger than the underlay carries
 * without fragmentation (max_frame), and anything the helpers refuse.
 * Frames that are not IPv4/IPv6 (ARP, VLAN-tagged, ...) are encapsulated too
 * but leave through the tap's segmenter pair the other way round, where
 * eoip_resend.c routes them (see below). GSO superframes (TCP hands the tap 64 KB
 * skbs whatever its offloads) are redirected to the tap's segmenter veth,
 * whose offloads are off: the kernel cuts them into segments, which arrive
 * at the veth's far end and come through this program again, one by one.
 *
 * bpf_skb_adjust_room with BPF_F_ADJ_ROOM_ENCAP_L3_* is used instead of
 * bpf_skb_change_head because it also sets skb->protocol to the outer
 * family, which bpf_redirect_neigh routes by (an IPv6 frame in an IPv4
 * tunnel would otherwise be routed as IPv6).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "eoip.h"
#include "eoip_maps.h"

/* Results of eoip_encap4/6 besides 0. */
#define EOIP_ENCAP_REFUSED 1 /* nothing was changed: the frame can take the slow path */
#define EOIP_ENCAP_BROKEN 2  /* room was made but the headers could not be written: drop */

/* The outer headers as written: Ethernet, IP, EoIP, then the inner Ethernet header moved behind them. */
struct eoip_outer4 {
	__u8 eth[ETH_HLEN];
	__u16 ip[EOIP_IPV4_HLEN / 2];
	__u8 eoip[EOIP_HLEN];
	__u8 inner_eth[ETH_HLEN];
} __attribute__((packed));

struct eoip_outer6 {
	__u8 eth[ETH_HLEN];
	__u8 ip[EOIP_IPV6_HLEN];
	__u8 eoip[EOIPV6_HLEN];
	__u8 inner_eth[ETH_HLEN];
} __attribute__((packed));

/* The frame leaves the fast path: stays on the tap, or goes back to it from the segmenter. */
static __always_inline int eoip_to_slow_path(const struct eoip_tx *tx, struct eoip_stats *stats)
{
	if (stats)
		stats->tx_slow += 1;
	if (tx->role == EOIP_ROLE_SEGMENTS)
		return bpf_redirect(tx->tap_ifindex, 0);
	return TC_ACT_UNSPEC;
}

static __always_inline void eoip_fill_eth(__u8 *eth, __u16 proto)
{
	/* bpf_redirect_neigh() writes both MAC addresses. */
	__builtin_memset(eth, 0, ETH_ALEN * 2);
	eth[ETH_ALEN * 2] = proto >> 8;
	eth[ETH_ALEN * 2 + 1] = proto & 0xff;
}

/*
 * Makes room for the outer headers. IP frames: bpf_skb_adjust_room inserts
 * the room behind the frame's Ethernet header (which is then written again
 * behind ours) and sets skb->protocol to the outer family. Other frames
 * (adjust_room refuses them): bpf_skb_change_head pushes the room in front,
 * skb->protocol keeps the inner EtherType, and the packet must take the
 * resend veth end to be routed (eoip_resend.c). Returns 0 or EOIP_ENCAP_REFUSED.
 */
static __always_inline int eoip_make_room(struct __sk_buff *skb, __u8 *inner_eth, __u32 room, __u64 encap_flags,
					  int ip_frame)
{
	if (!ip_frame)
		return bpf_skb_change_head(skb, room, 0) ? EOIP_ENCAP_REFUSED : 0;
	if (bpf_skb_load_bytes(skb, 0, inner_eth, ETH_HLEN))
		return EOIP_ENCAP_REFUSED;
	if (bpf_skb_adjust_room(skb, room, BPF_ADJ_ROOM_MAC, encap_flags | BPF_F_ADJ_ROOM_ENCAP_L2(ETH_HLEN)))
		return EOIP_ENCAP_REFUSED;
	return 0;
}

static __always_inline int eoip_encap4(struct __sk_buff *skb, const struct eoip_tx *tx, __u32 frame_len, int ip_frame)
{
	struct eoip_outer4 h;
	__u16 *ip = h.ip;
	__u8 *b = (__u8 *)h.ip;

	if (eoip_make_room(skb, h.inner_eth, EOIP_OVERHEAD4 + ETH_HLEN, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4, ip_frame))
		return EOIP_ENCAP_REFUSED;
	eoip_fill_eth(h.eth, ETH_P_IP);
	b[0] = (EOIP_IPV4_VERSION << 4) | (EOIP_IPV4_HLEN / 4);
	b[1] = tx->tos;
	ip[1] = bpf_htons(EOIP_OVERHEAD4 + frame_len);
	ip[2] = (__u16)bpf_get_prandom_u32(); /* identification; DF clear, so routers may fragment */
	ip[3] = 0;			      /* flags and fragment offset: DF clear */
	b[8] = tx->ttl;
	b[9] = EOIP_IPPROTO;
	ip[5] = 0;
	__builtin_memcpy(&b[12], tx->local, 4);
	__builtin_memcpy(&b[16], tx->remote, 4);
	ip[5] = eoip_ipv4_checksum(ip);
	h.eoip[0] = EOIP_MAGIC0;
	h.eoip[1] = EOIP_MAGIC1;
	h.eoip[2] = EOIP_MAGIC2;
	h.eoip[3] = EOIP_MAGIC3;
	h.eoip[4] = frame_len >> 8;
	h.eoip[5] = frame_len & 0xff;
	h.eoip[6] = tx->tunnel_id & 0xff;
	h.eoip[7] = (tx->tunnel_id >> 8) & 0xff;
	/* After change_head the frame, its Ethernet header included, already follows the room. */
	return bpf_skb_store_bytes(skb, 0, &h, ip_frame ? sizeof(h) : sizeof(h) - ETH_HLEN, 0) ? EOIP_ENCAP_BROKEN : 0;
}

static __always_inline int eoip_encap6(struct __sk_buff *skb, const struct eoip_tx *tx, __u32 frame_len, int ip_frame)
{
	struct eoip_outer6 h;
	__u8 *b = h.ip;
	__u32 payload = EOIPV6_HLEN + frame_len;

	if (eoip_make_room(skb, h.inner_eth, EOIP_OVERHEAD6 + ETH_HLEN, BPF_F_ADJ_ROOM_ENCAP_L3_IPV6, ip_frame))
		return EOIP_ENCAP_REFUSED;
	eoip_fill_eth(h.eth, ETH_P_IPV6);
	/* version, traffic class, flow label 0 */
	b[0] = (EOIP_IPV6_VERSION << 4) | (tx->tos >> 4);
	b[1] = (tx->tos & 0x0f) << 4;
	b[2] = 0;
	b[3] = 0;
	b[4] = payload >> 8;
	b[5] = payload & 0xff;
	b[6] = EOIPV6_NEXTHDR;
	b[7] = tx->ttl;
	__builtin_memcpy(&b[8], tx->local, EOIP_ADDR_LEN);
	__builtin_memcpy(&b[24], tx->remote, EOIP_ADDR_LEN);
	h.eoip[0] = ((tx->tunnel_id >> 8) & 0x0f) << 4 | EOIPV6_VERSION;
	h.eoip[1] = tx->tunnel_id & 0xff;
	return bpf_skb_store_bytes(skb, 0, &h, ip_frame ? sizeof(h) : sizeof(h) - ETH_HLEN, 0) ? EOIP_ENCAP_BROKEN : 0;
}

SEC("tc")
int eoip_encap(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	const struct eoip_tx *tx = bpf_map_lookup_elem(&eoip_tx, &ifindex);
	struct eoip_stats *stats;
	__u32 frame_len = skb->len;
	int ip_frame, err;

	if (!tx) {
		eoip_count_verdict(EOIP_V_TX_NO_TUNNEL);
		return TC_ACT_UNSPEC;
	}
	stats = eoip_stats_of(tx->slot);

	if (skb->gso_size) {
		/* A superframe: cut it into segments first (never from the segmenter itself). */
		if (tx->role == EOIP_ROLE_TAP && tx->segmenter_ifindex) {
			if (stats)
				stats->tx_segmented += 1;
			return bpf_redirect(tx->segmenter_ifindex, 0);
		}
		return eoip_to_slow_path(tx, stats);
	}
	if (frame_len < ETH_HLEN || frame_len > tx->max_frame)
		return eoip_to_slow_path(tx, stats);
	ip_frame = skb->protocol == bpf_htons(ETH_P_IP) || skb->protocol == bpf_htons(ETH_P_IPV6);
	/* ARP, VLAN-tagged and other frames need the resend veth end to be routed as the outer family. */
	if (!ip_frame && (tx->role != EOIP_ROLE_TAP || !tx->resend_ifindex))
		return eoip_to_slow_path(tx, stats);

	if (tx->family == EOIP_IPV6_VERSION)
		err = eoip_encap6(skb, tx, frame_len, ip_frame);
	else
		err = eoip_encap4(skb, tx, frame_len, ip_frame);
	if (err == EOIP_ENCAP_REFUSED)
		return eoip_to_slow_path(tx, stats);
	if (err) {
		if (stats)
			stats->tx_errors += 1;
		return TC_ACT_SHOT;
	}
	if (stats) {
		stats->tx_packets += 1;
		stats->tx_bytes += frame_len + (tx->family == EOIP_IPV6_VERSION ? EOIPV6_HLEN : EOIP_HLEN);
	}
	if (!ip_frame) {
		/*
		 * skb->protocol still names the inner EtherType, and bpf_redirect_neigh
		 * routes by it. Out of the resend end's peer and in again, the packet is
		 * parsed anew (protocol = the outer EtherType written above).
		 */
		return bpf_redirect(tx->resend_ifindex, 0);
	}
	return bpf_redirect_neigh(tx->underlay_ifindex, NULL, 0, 0);
}

char _license[] SEC("license") = "GPL";
