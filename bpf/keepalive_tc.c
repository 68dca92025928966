// SPDX-License-Identifier: GPL-2.0-only
/*
 * GRE keepalive reflector as a TC ingress classifier on a gre/ip6gre device
 * with a remote (kernel 5.14+: the program sees the decapsulated inner
 * packet). It sends the PLAIN reply out of the underlay, as Cisco does:
 *
 *   tc qdisc add dev gre1 clsact
 *   tc filter add dev gre1 ingress bpf da obj keepalive_tc.o sec tc
 *
 * ka_config must hold our tunnel address (local) and the peer (remote) of the
 * inner family: without them the inner source cannot be checked and the
 * reply would be a spoofing tool, so a missing local address is
 * KA_FORGED_SOURCE and a missing remote KA_THIRD_PARTY (the checks of steps 8
 * and 9 that cannot pass).
 *
 * Where the IP header starts: on a gre device the skb has no link-layer
 * header (network header == data); BPF_PROG_TEST_RUN always builds an
 * Ethernet frame (network header == data + 14). The program measures the
 * network-header offset with bpf_skb_load_bytes_relative(BPF_HDR_START_NET)
 * probes against the linear length and handles exactly these two cases;
 * anything else is passed as KA_NOT_GRE.
 *
 * Reply: trim to the inner packet, make room for an Ethernet header
 * (bpf_skb_change_head) unless there is one, set the EtherType of the inner
 * family, and bpf_redirect_neigh() to ka_config.underlay_ifindex (or the
 * interface bpf_fib_lookup picks): the kernel routes it and fills in the MAC
 * addresses. With a frame already present (test runs) the MAC addresses are
 * swapped instead, as keepalive_underlay does.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#define KA_CTX struct __sk_buff
#include "gre_keepalive_decide.h"

#define KA_AF_INET 2
#define KA_AF_INET6 10
/* Bytes made linear before parsing: an L2 header and the largest inner packet answered, with room to spare. */
#define KA_TC_PULL_LEN 256

/* Offset of the network header from skb->data: 0, ETH_HLEN, or -1 when it is neither. */
static __always_inline int ka_tc_l3_offset(struct __sk_buff *skb)
{
	__u32 headlen = skb->data_end - skb->data;
	__u8 byte;

	/* A load of one byte at offset k from the network header fits iff offset + k < headlen. */
	if (headlen == 0)
		return -1;
	if (!bpf_skb_load_bytes_relative(skb, headlen - 1, &byte, 1, BPF_HDR_START_NET))
		return 0;
	if (headlen > ETH_HLEN &&
	    !bpf_skb_load_bytes_relative(skb, headlen - ETH_HLEN - 1, &byte, 1, BPF_HDR_START_NET) &&
	    bpf_skb_load_bytes_relative(skb, headlen - ETH_HLEN, &byte, 1, BPF_HDR_START_NET))
		return ETH_HLEN;
	return -1;
}

/* The underlay interface for the reply, or 0 when there is no usable route. */
static __always_inline __u32 ka_tc_egress(struct __sk_buff *skb, const struct ka_config *cfg,
					  const struct ka_decision *d)
{
	struct bpf_fib_lookup fib = {};
	long rc;

	if (cfg->underlay_ifindex)
		return cfg->underlay_ifindex;
	fib.ifindex = skb->ifindex;
	fib.tot_len = (__u16)d->reply_len;
	if (d->family == IPV4_VERSION) {
		fib.family = KA_AF_INET;
		fib.ipv4_src = cfg->local4;
		fib.ipv4_dst = d->dst4;
	} else {
		fib.family = KA_AF_INET6;
		__builtin_memcpy(fib.ipv6_src, &cfg->local6, sizeof(fib.ipv6_src));
		__builtin_memcpy(fib.ipv6_dst, &d->dst6, sizeof(fib.ipv6_dst));
	}
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return 0;
	/* A route back into the tunnel would loop. */
	if (fib.ifindex == skb->ifindex)
		return 0;
	return fib.ifindex;
}

SEC("tc")
int keepalive_tc(struct __sk_buff *skb)
{
	struct cursor c;
	struct ka_decision d;
	const struct ka_config *cfg;
	struct ethhdr *eth;
	__u8 mac[ETH_ALEN];
	__u32 headlen, ifindex, reply_end;
	__u16 ethertype;
	int l3_off, verdict;

	cfg = ka_config_get();
	if (!cfg)
		return TC_ACT_OK;
	headlen = skb->data_end - skb->data;
	if (headlen < skb->len && headlen < KA_TC_PULL_LEN)
		bpf_skb_pull_data(skb, skb->len < KA_TC_PULL_LEN ? skb->len : KA_TC_PULL_LEN);

	l3_off = ka_tc_l3_offset(skb);
	if (l3_off < 0) {
		ka_count(KA_NOT_GRE);
		return TC_ACT_OK;
	}
	cursor_init(&c, (void *)(long)skb->data, (void *)(long)skb->data_end);
	ka_decision_init(&d);
	verdict = ka_decide_inner(skb, &c, (__u32)l3_off, cfg, 1, &d);
	ka_count(verdict);
	if (verdict != KA_REPLY)
		return TC_ACT_OK;

	ethertype = d.family == IPV6_VERSION ? ETH_P_IPV6 : ETH_P_IP;
	/* bpf_redirect_neigh routes by skb->protocol: it must name the inner family. */
	if (skb->protocol != bpf_htons(ethertype))
		goto tx_error;
	ifindex = ka_tc_egress(skb, cfg, &d);
	if (!ifindex)
		goto tx_error;

	reply_end = (__u32)l3_off + d.reply_len;
	if (skb->len > reply_end && bpf_skb_change_tail(skb, reply_end, 0))
		goto tx_error;
	if (l3_off == 0 && bpf_skb_change_head(skb, ETH_HLEN, 0))
		goto tx_error;

	cursor_init(&c, (void *)(long)skb->data, (void *)(long)skb->data_end);
	eth = cursor_at(&c, 0, sizeof(*eth));
	if (!eth)
		goto tx_error;
	if (l3_off == 0) {
		/* A fresh header: bpf_redirect_neigh fills in the addresses. */
		__builtin_memset(eth->h_dest, 0, ETH_ALEN);
		__builtin_memset(eth->h_source, 0, ETH_ALEN);
	} else {
		__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
		__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
		__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	}
	eth->h_proto = bpf_htons(ethertype);
	return bpf_redirect_neigh(ifindex, NULL, 0, 0);

tx_error:
	ka_count(KA_COUNTER_TX_ERROR);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
