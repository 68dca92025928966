// SPDX-License-Identifier: GPL-2.0-only
/*
 * EoIP/EoIPv6 decapsulation, a TC program on the ingress of an underlay
 * interface. A packet is ours only when it matches a tunnel exactly: IPv4
 * protocol 47 with the EoIP magic, or IPv6 next header 97 with EoIPv6
 * version 3; the tunnel id and the source address of a configured tunnel
 * (eoip_rx); its local address as destination; and a frame length that
 * fits the data. Its outer headers are cut off and the inner frame is
 * redirected to the ingress of the tunnel's tap, so the stack receives it
 * on the tunnel interface:
 *
 *   [Ethernet][IPv4 | IPv6][EoIP | EoIPv6][Ethernet][inner...]  ->  [Ethernet][inner...]
 *
 * Everything else is left untouched, byte for byte, and handed on with
 * TC_ACT_UNSPEC (TCX_NEXT), so other TC programs and filters on the device
 * still see it (TC_ACT_OK would end their chain): packets of
 * other protocols without a counter, GRE and EtherIP packets that are not
 * ours with the reason counted in eoip_verdicts (the numbers of DropReason
 * in src/eoip/datapath.ts); the stack, and the raw sockets of the userland
 * datapath or the kernel module behind it, still get them. Keepalives (frame
 * length 0), IPv4 fragments (the stack reassembles them) and headers this
 * program does not take apart go up the stack to the daemon, which runs the
 * RouterOS keepalive machine and the carrier. Frames of a matched tunnel
 * whose length field is wrong are counted against the tunnel and dropped.
 *
 * Checks follow receive4()/receive6() of src/eoip/datapath.ts in order,
 * plus what ip_rcv() checks before a raw socket would see the packet (the
 * IPv4 header checksum, the IPv6 payload length): test/bpf/eoip.test.ts
 * runs a corpus through both and compares.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "cursor.h"
#include "eoip.h"
#include "eoip_maps.h"

/* Linear bytes wanted before parsing: Ethernet, the largest IPv4 header, EoIP, the inner Ethernet header. */
#define EOIP_PULL_LEN (ETH_HLEN + EOIP_IPV4_MAX_HLEN + EOIP_HLEN + ETH_HLEN)

/* A decided packet: the verdict, and for EOIP_V_DELIVERED where the frame is. */
struct eoip_rx_decision {
	__u32 verdict;
	const struct eoip_rx *rx;
	__u32 frame_len;
	/* Bytes between the outer Ethernet header and the inner frame. */
	__u32 outer_len;
};

/* Makes the first `want` bytes (or all of a shorter packet) linear and points the cursor at them. */
static __always_inline void eoip_cursor(struct __sk_buff *skb, struct cursor *c, __u32 want)
{
	if (want > skb->len)
		want = skb->len;
	if (skb->data_end - skb->data < want)
		bpf_skb_pull_data(skb, want);
	cursor_init(c, (void *)(long)skb->data, (void *)(long)skb->data_end);
}

static __always_inline int eoip_addr_equal(const __u8 *a, const __u8 *b, __u32 len)
{
	__u32 diff = 0, i;

	for (i = 0; i < EOIP_ADDR_LEN; i++)
		if (i < len)
			diff |= a[i] ^ b[i];
	return diff == 0;
}

/* No tunnel for (family, tid, source): tell an unknown id from a known one sent by someone else. */
static __always_inline __u32 eoip_miss(__u32 family, __u32 tunnel_id)
{
	struct eoip_tid_key key = { .family = family, .tunnel_id = tunnel_id };

	return bpf_map_lookup_elem(&eoip_tids, &key) ? EOIP_V_WRONG_SOURCE : EOIP_V_UNKNOWN_TUNNEL_ID;
}

/* Steps shared by both families once a tunnel matched: destination, keepalive, frame length. */
static __always_inline void eoip_match(struct eoip_rx_decision *d, const struct eoip_rx *rx, const __u8 *dst,
				       __u32 addr_len, __u32 frame_len, __u32 data_len)
{
	d->rx = rx;
	if (!eoip_addr_equal(dst, rx->local, addr_len)) {
		/* Sent to another address of ours: the stack knows whether it is local. */
		d->verdict = rx->flags & EOIP_RX_LOCAL_CONFIGURED ? EOIP_V_WRONG_DESTINATION : EOIP_V_SLOW_OTHER;
		return;
	}
	if (frame_len == 0)
		d->verdict = EOIP_V_SLOW_KEEPALIVE;
	else if (frame_len < ETH_HLEN)
		d->verdict = EOIP_V_FRAME_TOO_SHORT;
	else if (frame_len > data_len)
		d->verdict = EOIP_V_FRAME_EXCEEDS_DATA;
	else
		d->verdict = EOIP_V_DELIVERED;
	d->frame_len = frame_len;
}

/* Folded one's complement sum of the IPv4 header at `off`: 0xffff when its checksum is right. */
static __always_inline __u32 eoip_ipv4_sum(const struct cursor *c, __u32 off, __u32 hdr_len)
{
	__u32 sum = 0, i;
	__u16 word;

	for (i = 0; i < EOIP_IPV4_MAX_HLEN; i += 2) {
		if (i >= hdr_len)
			break;
		if (cursor_be16(c, off + i, &word))
			return 0;
		sum += word;
	}
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

static __always_inline int eoip_decide4(struct __sk_buff *skb, struct eoip_rx_decision *d)
{
	struct eoip_rx_key key = { .family = EOIP_IPV4_VERSION };
	const struct eoip_rx *rx;
	struct cursor c;
	struct iphdr *iph;
	__u32 hdr_len, tot_len, at, end;
	__u8 *eoip;
	__be32 dst;

	eoip_cursor(skb, &c, EOIP_PULL_LEN);
	iph = cursor_at(&c, ETH_HLEN, sizeof(*iph));
	if (!iph || iph->protocol != EOIP_IPPROTO)
		return -1; /* not GRE: not counted, as a raw socket would never see it */
	hdr_len = (__u32)iph->ihl * 4;
	tot_len = bpf_ntohs(iph->tot_len);
	if (iph->version != EOIP_IPV4_VERSION || hdr_len < EOIP_IPV4_HLEN || tot_len < hdr_len ||
	    tot_len > skb->len - ETH_HLEN) {
		d->verdict = EOIP_V_BAD_IP_HEADER;
		return 0;
	}
	if (eoip_ipv4_sum(&c, ETH_HLEN, hdr_len) != 0xffff) {
		d->verdict = EOIP_V_BAD_IP_HEADER;
		return 0;
	}
	/* Re-read: the sum walked the cursor, the verifier wants a fresh pointer. */
	iph = cursor_at(&c, ETH_HLEN, sizeof(*iph));
	if (!iph)
		return -1;
	if (bpf_ntohs(iph->frag_off) & EOIP_IPV4_FRAG_MASK) {
		d->verdict = EOIP_V_FRAGMENT;
		return 0;
	}
	dst = iph->daddr;
	__builtin_memcpy(key.remote, &iph->saddr, 4);
	at = ETH_HLEN + hdr_len;
	end = ETH_HLEN + tot_len;
	eoip = cursor_at(&c, at, EOIP_MAGIC_LEN);
	if (end - at < EOIP_HLEN) {
		d->verdict = end - at >= EOIP_MAGIC_LEN && eoip && eoip[0] == EOIP_MAGIC0 && eoip[1] == EOIP_MAGIC1 &&
					     eoip[2] == EOIP_MAGIC2 && eoip[3] == EOIP_MAGIC3
				     ? EOIP_V_TRUNCATED
				     : EOIP_V_NOT_EOIP;
		return 0;
	}
	eoip = cursor_at(&c, at, EOIP_HLEN);
	if (!eoip)
		return -1;
	if (eoip[0] != EOIP_MAGIC0 || eoip[1] != EOIP_MAGIC1 || eoip[2] != EOIP_MAGIC2 || eoip[3] != EOIP_MAGIC3) {
		d->verdict = EOIP_V_NOT_EOIP;
		return 0;
	}
	key.tunnel_id = eoip[6] | (__u32)eoip[7] << 8;
	rx = bpf_map_lookup_elem(&eoip_rx, &key);
	if (!rx) {
		d->verdict = eoip_miss(EOIP_IPV4_VERSION, key.tunnel_id);
		return 0;
	}
	d->outer_len = hdr_len + EOIP_HLEN;
	eoip_match(d, rx, (const __u8 *)&dst, 4, (__u32)eoip[4] << 8 | eoip[5], end - at - EOIP_HLEN);
	return 0;
}

static __always_inline int eoip_decide6(struct __sk_buff *skb, struct eoip_rx_decision *d)
{
	struct eoip_rx_key key = { .family = EOIP_IPV6_VERSION };
	const struct eoip_rx *rx;
	struct in6_addr dst;
	struct cursor c;
	struct ipv6hdr *ip6h;
	__u32 payload;
	__u8 *eoip;

	eoip_cursor(skb, &c, ETH_HLEN + EOIP_IPV6_HLEN + EOIPV6_HLEN + ETH_HLEN);
	ip6h = cursor_at(&c, ETH_HLEN, sizeof(*ip6h));
	/* Extension headers in front of 97 are rare: the stack and the daemon take those. */
	if (!ip6h || ip6h->nexthdr != EOIPV6_NEXTHDR)
		return -1;
	payload = bpf_ntohs(ip6h->payload_len);
	if (ip6h->version != EOIP_IPV6_VERSION || EOIP_IPV6_HLEN + payload > skb->len - ETH_HLEN) {
		d->verdict = EOIP_V_BAD_IP_HEADER;
		return 0;
	}
	if (payload < EOIPV6_HLEN) {
		d->verdict = EOIP_V_TRUNCATED;
		return 0;
	}
	eoip = cursor_at(&c, ETH_HLEN + EOIP_IPV6_HLEN, EOIPV6_HLEN);
	if (!eoip)
		return -1;
	if ((eoip[0] & EOIPV6_VERSION_MASK) != EOIPV6_VERSION) {
		d->verdict = EOIP_V_NOT_EOIP;
		return 0;
	}
	key.tunnel_id = (__u32)(eoip[0] >> 4) << 8 | eoip[1];
	ip6h = cursor_at(&c, ETH_HLEN, sizeof(*ip6h));
	if (!ip6h)
		return -1;
	__builtin_memcpy(key.remote, &ip6h->saddr, EOIP_ADDR_LEN);
	__builtin_memcpy(&dst, &ip6h->daddr, sizeof(dst));
	rx = bpf_map_lookup_elem(&eoip_rx, &key);
	if (!rx) {
		d->verdict = eoip_miss(EOIP_IPV6_VERSION, key.tunnel_id);
		return 0;
	}
	d->outer_len = EOIP_IPV6_HLEN + EOIPV6_HLEN;
	/* No length field: the frame is the rest of the payload. */
	eoip_match(d, rx, (const __u8 *)&dst, EOIP_ADDR_LEN, payload - EOIPV6_HLEN, payload - EOIPV6_HLEN);
	return 0;
}

/* Cuts the outer headers off and hands the inner frame to the tap. */
static __always_inline int eoip_deliver(struct __sk_buff *skb, const struct eoip_rx_decision *d,
					struct eoip_stats *stats)
{
	__u8 inner_eth[ETH_HLEN];
	__u32 cut = d->outer_len + ETH_HLEN;

	if (cut > ETH_HLEN + EOIP_IPV4_MAX_HLEN + EOIP_HLEN + ETH_HLEN)
		return -1;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + d->outer_len, inner_eth, ETH_HLEN))
		return -1;
	/*
	 * Remove the outer IP and EoIP headers and the inner Ethernet header
	 * right behind the outer Ethernet header, then write the inner one
	 * over the outer one. adjust_room refuses before it changes anything.
	 */
	if (bpf_skb_adjust_room(skb, -(__s32)cut, BPF_ADJ_ROOM_MAC, 0))
		return -1;
	if (bpf_skb_store_bytes(skb, 0, inner_eth, ETH_HLEN, 0))
		return -2;
	/* Ethernet padding and anything past the frame length. */
	if (skb->len > d->frame_len && bpf_skb_change_tail(skb, d->frame_len, 0))
		return -2;
	return 0;
}

SEC("tc")
int eoip_decap(struct __sk_buff *skb)
{
	struct eoip_rx_decision d = {};
	struct eoip_stats *stats = NULL;
	int ret;

	if (skb->pkt_type != PACKET_HOST)
		return TC_ACT_UNSPEC;
	if (skb->protocol == bpf_htons(ETH_P_IP))
		ret = eoip_decide4(skb, &d);
	else if (skb->protocol == bpf_htons(ETH_P_IPV6))
		ret = eoip_decide6(skb, &d);
	else
		return TC_ACT_UNSPEC;
	if (ret)
		return TC_ACT_UNSPEC;
	if (d.rx)
		stats = eoip_stats_of(d.rx->slot);

	if (d.verdict == EOIP_V_DELIVERED && skb->gso_size)
		d.verdict = EOIP_V_SLOW_OTHER; /* a GRO-merged skb: the stack and the daemon cut it */
	if (d.verdict == EOIP_V_DELIVERED) {
		ret = eoip_deliver(skb, &d, stats);
		if (ret == -1)
			d.verdict = EOIP_V_SLOW_OTHER; /* unchanged: up the stack, the daemon delivers it */
		else if (ret)
			d.verdict = EOIP_V_RX_ERROR;
	}
	eoip_count_verdict(d.verdict);

	switch (d.verdict) {
	case EOIP_V_DELIVERED:
		if (stats) {
			stats->rx_packets += 1;
			stats->rx_bytes += d.frame_len;
		}
		return bpf_redirect(d.rx->tap_ifindex, BPF_F_INGRESS);
	case EOIP_V_SLOW_KEEPALIVE:
	case EOIP_V_SLOW_OTHER:
		if (stats)
			stats->rx_slow += 1;
		return TC_ACT_UNSPEC;
	case EOIP_V_FRAME_TOO_SHORT:
	case EOIP_V_FRAME_EXCEEDS_DATA:
	case EOIP_V_RX_ERROR:
		if (stats)
			stats->rx_errors += 1;
		return TC_ACT_SHOT;
	default:
		return TC_ACT_UNSPEC;
	}
}

char _license[] SEC("license") = "GPL";
