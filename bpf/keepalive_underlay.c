// SPDX-License-Identifier: GPL-2.0-only
/*
 * GRE keepalive reflector for the physical (underlay) NIC: native XDP,
 * section "prog" (`ip link set dev eth0 xdp object keepalive_underlay.o`).
 *
 * Input is outer-l2: Ethernet with 0-2 VLAN tags (802.1Q, 802.1ad, 0x9100),
 * then the outer IPv4 or IPv6 header. On KA_REPLY the outer IP and GRE
 * headers are cut out, the Ethernet header of the request is written in
 * front of the inner packet with its MAC addresses swapped, its VLAN tags
 * kept and the EtherType of the inner family, anything after the inner packet
 * is trimmed, and the frame leaves by the port it came in on (XDP_TX).
 * Everything else is passed on untouched.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define KA_CTX struct xdp_md
#include "gre_keepalive_decide.h"

/* The request's Ethernet header, kept across bpf_xdp_adjust_head. */
struct ka_l2 {
	__u8 dst[ETH_ALEN];
	__u8 src[ETH_ALEN];
	__u8 tags[KA_MAX_VLAN_TAGS][VLAN_TAG_LEN];
};

SEC("prog")
int keepalive_underlay(struct xdp_md *ctx)
{
	struct cursor c;
	struct ka_decision d;
	struct ka_l2 l2 = {};
	const struct ka_config *cfg;
	__u8 *macs, *tag;
	__be16 *type;
	__u32 l2_len, tags, len, i;
	int verdict;

	cfg = ka_config_get();
	if (!cfg)
		return XDP_PASS;
	cursor_init(&c, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
	ka_decision_init(&d);

	verdict = ka_decide_outer_l2(ctx, &c, cfg, &d);
	ka_count(verdict);
	if (verdict != KA_REPLY)
		return XDP_PASS;

	/* The outer IP header starts right after the L2 header. */
	l2_len = d.outer_off;
	if (l2_len < ETH_HLEN || l2_len > ETH_HLEN + KA_MAX_VLAN_TAGS * VLAN_TAG_LEN || d.reply_off < l2_len)
		goto tx_error;
	tags = (l2_len - ETH_HLEN) / VLAN_TAG_LEN;
	macs = cursor_at(&c, 0, 2 * ETH_ALEN);
	if (!macs)
		goto tx_error;
	__builtin_memcpy(l2.dst, macs, ETH_ALEN);
	__builtin_memcpy(l2.src, macs + ETH_ALEN, ETH_ALEN);
	for (i = 0; i < KA_MAX_VLAN_TAGS; i++) {
		if (i >= tags)
			break;
		tag = cursor_at(&c, 2 * ETH_ALEN + i * VLAN_TAG_LEN, VLAN_TAG_LEN);
		if (!tag)
			goto tx_error;
		__builtin_memcpy(l2.tags[i], tag, VLAN_TAG_LEN);
	}

	/* Cut the outer IP + GRE headers: the L2 header is rewritten in front of the inner packet. */
	if (bpf_xdp_adjust_head(ctx, (int)(d.reply_off - l2_len)))
		goto tx_error;
	/* From here on the request is gone: a failure drops the frame. */
	cursor_init(&c, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
	len = cursor_len(&c);
	if (len > l2_len + d.reply_len) {
		if (bpf_xdp_adjust_tail(ctx, -(int)(len - l2_len - d.reply_len)))
			goto tx_dropped;
		cursor_init(&c, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
	}

	macs = cursor_at(&c, 0, 2 * ETH_ALEN);
	if (!macs)
		goto tx_dropped;
	__builtin_memcpy(macs, l2.src, ETH_ALEN);
	__builtin_memcpy(macs + ETH_ALEN, l2.dst, ETH_ALEN);
	for (i = 0; i < KA_MAX_VLAN_TAGS; i++) {
		if (i >= tags)
			break;
		tag = cursor_at(&c, 2 * ETH_ALEN + i * VLAN_TAG_LEN, VLAN_TAG_LEN);
		if (!tag)
			goto tx_dropped;
		__builtin_memcpy(tag, l2.tags[i], VLAN_TAG_LEN);
	}
	type = cursor_at(&c, l2_len - sizeof(__be16), sizeof(__be16));
	if (!type)
		goto tx_dropped;
	*type = bpf_htons(d.family == IPV6_VERSION ? ETH_P_IPV6 : ETH_P_IP);
	return XDP_TX;

tx_error:
	ka_count(KA_COUNTER_TX_ERROR);
	return XDP_PASS;
tx_dropped:
	ka_count(KA_COUNTER_TX_ERROR);
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
