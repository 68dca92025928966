// SPDX-License-Identifier: GPL-2.0
/*
 * EoIP over IPv4 receive, without owning IP protocol 47.
 *
 * gre.ko owns protocol 47 and hands GRE version 1 (which EoIP's 20 01 claims
 * to be) to pptp.ko. The old eoip module replaced gre.ko to get these
 * packets; instead, a netfilter hook at NF_INET_LOCAL_IN looks at protocol 47
 * packets before they reach gre.ko, takes those that carry the EoIP magic and
 * belong to a configured tunnel, and lets everything else through untouched:
 * gre.ko, ip_gre, ip6_gre and pptp keep working, and unmatched EoIP still
 * reaches raw sockets (the userland backend).
 *
 * The hook is registered in a namespace only while it has eoip devices, so
 * loading the module costs nothing elsewhere.
 */
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <net/ip.h>
#include <net/xfrm.h>

#include "eoip.h"

#define EOIP_MAGIC	cpu_to_be32(0x20016400)	/* K bit + version 1, protocol 0x6400 */

struct eoip_hdr {
	__be32 magic;
	__be16 len;	/* Ethernet frame length, big-endian; 0: keepalive */
	__le16 tid;	/* tunnel id, little-endian */
};

static_assert(sizeof(struct eoip_hdr) == EOIP_HLEN);

/*
 * A packet of a configured tunnel: consume it (NF_STOLEN) or drop it as
 * malformed. @off is where the EoIP header starts (skb->data is the IP header).
 */
static unsigned int eoip4_take(struct eoip_tunnel *t, struct sk_buff *skb, unsigned int off,
			       unsigned int frame_len)
{
	unsigned int avail = skb->len - off - EOIP_HLEN;
	u8 dsfield = ipv4_get_dsfield(ip_hdr(skb));

	if (!xfrm4_policy_check(NULL, XFRM_POLICY_IN, skb))
		return NF_DROP;
	if (frame_len == 0) {
		eoip_keepalive_received(t);
		consume_skb(skb);
		return NF_STOLEN;
	}
	/* The length field must describe a whole frame that is really here; the rest is padding. */
	if (frame_len < ETH_HLEN || frame_len > avail ||
	    !pskb_may_pull(skb, off + EOIP_HLEN + ETH_HLEN)) {
		DEV_STATS_INC(t->dev, rx_length_errors);
		DEV_STATS_INC(t->dev, rx_errors);
		return NF_DROP;
	}
	skb_pull_rcsum(skb, off + EOIP_HLEN);
	if (pskb_trim_rcsum(skb, frame_len)) {
		DEV_STATS_INC(t->dev, rx_dropped);
		kfree_skb(skb);
		return NF_STOLEN;
	}
	eoip_receive_frame(t, skb, dsfield);
	return NF_STOLEN;
}

/* Runs under rcu_read_lock (nf_hook), in softirq. skb->data is the IP header. */
static unsigned int eoip4_hook(void *priv, struct sk_buff *skb, const struct nf_hook_state *state)
{
	const struct iphdr *iph = ip_hdr(skb);
	union eoip_addr remote = {}, local = {};
	const struct eoip_hdr *eh;
	struct eoip_hdr buf;
	struct eoip_tunnel *t;
	unsigned int off;

	if (iph->protocol != IPPROTO_GRE)
		return NF_ACCEPT;
	off = skb_network_offset(skb) + ip_hdrlen(skb);
	eh = skb_header_pointer(skb, off, sizeof(buf), &buf);
	if (!eh || eh->magic != EOIP_MAGIC)
		return NF_ACCEPT;

	remote.ip4 = iph->saddr;
	local.ip4 = iph->daddr;
	t = eoip_lookup(eoip_net(state->net), &remote, &local, le16_to_cpu(eh->tid));
	if (!t)
		return NF_ACCEPT;
	return eoip4_take(t, skb, off, be16_to_cpu(eh->len));
}

/*
 * LOCAL_IN only sees whole datagrams: ip_local_deliver() reassembles before
 * the hook runs, whatever its priority. The priority puts it after the filter,
 * security and SNAT tables, so an INPUT rule that drops GRE from a host still
 * drops its EoIP, and before conntrack confirmation (a stolen packet's
 * unconfirmed entry simply goes away with it).
 */
static const struct nf_hook_ops eoip4_hook_ops = {
	.hook		= eoip4_hook,
	.pf		= NFPROTO_IPV4,
	.hooknum	= NF_INET_LOCAL_IN,
	.priority	= NF_IP_PRI_NAT_SRC + 1,
};

int eoip_receive_net_start(struct net *net)
{
	return nf_register_net_hook(net, &eoip4_hook_ops);
}

/* Waits for running hooks (synchronize_net inside): none sees the table after this. */
void eoip_receive_net_stop(struct net *net)
{
	nf_unregister_net_hook(net, &eoip4_hook_ops);
}

int eoip_receive_init(void)
{
	return 0;
}

void eoip_receive_exit(void)
{
}
