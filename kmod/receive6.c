// SPDX-License-Identifier: GPL-2.0
/*
 * EoIPv6 receive: IPv6 next header 97.
 *
 * Linux has no handler for 97 (EtherIP), so the module registers one. A
 * netfilter hook would not do here: IPv6 LOCAL_IN sees fragments before
 * ip6_input reassembles them (in the fragment header's handler), while a
 * protocol handler is called with the reassembled packet, after extension
 * headers, with skb->data at our 2-byte header.
 *
 * Raw IPv6 sockets for 97 get their copy before this handler runs, so the
 * userland backend can still watch. Packets of no configured tunnel are dropped
 * silently rather than answered with ICMPv6 (which the stack would send for an
 * unhandled next header): a tunnel endpoint should not reflect probes.
 */
#include <net/protocol.h>
#include <net/xfrm.h>

#include "eoip.h"

#define EOIP6_VERSION	3	/* low nibble of byte 0 (RFC 3378 EtherIP has it high) */

static bool eoip6_parse(const u8 *h, u16 *tid)
{
	if ((h[0] & 0x0f) != EOIP6_VERSION)
		return false;
	*tid = (u16)(h[0] >> 4) << 8 | h[1];
	return true;
}

static void eoip6_bad_length(struct eoip_tunnel *t, struct sk_buff *skb)
{
	DEV_STATS_INC(t->dev, rx_length_errors);
	DEV_STATS_INC(t->dev, rx_errors);
	kfree_skb(skb);
}

/* A packet of tunnel @t: keepalive (the bare header) or one whole Ethernet frame. */
static void eoip6_take(struct eoip_tunnel *t, struct sk_buff *skb)
{
	u8 dsfield = ipv6_get_dsfield(ipv6_hdr(skb));

	if (skb->len == EOIP_HLEN) {
		eoip_keepalive_received(t);
		consume_skb(skb);
		return;
	}
	if (skb->len < EOIP_HLEN + ETH_HLEN || !pskb_may_pull(skb, EOIP_HLEN + ETH_HLEN)) {
		eoip6_bad_length(t, skb);
		return;
	}
	skb_pull_rcsum(skb, EOIP_HLEN);
	eoip_receive_frame(t, skb, dsfield);
}

/* inet6_protocol handler: softirq, under RCU. Always consumes @skb. */
static int eoip6_rcv(struct sk_buff *skb)
{
	const struct ipv6hdr *ip6h;
	union eoip_addr remote = {}, local = {};
	struct eoip_tunnel *t;
	u16 tid;

	if (!pskb_may_pull(skb, EOIP_HLEN) || !eoip6_parse(skb->data, &tid))
		goto drop;
	ip6h = ipv6_hdr(skb);
	remote.ip6 = ip6h->saddr;
	local.ip6 = ip6h->daddr;
	t = eoip_lookup(eoip_net(dev_net(skb->dev)), &remote, &local, tid);
	if (!t)
		goto drop;
	/* Registered with NOPOLICY, like ip6_tunnel: the IPsec check is ours to make. */
	if (!xfrm6_policy_check(NULL, XFRM_POLICY_IN, skb))
		goto drop;
	eoip6_take(t, skb);
	return 0;
drop:
	kfree_skb(skb);
	return 0;
}

static const struct inet6_protocol eoip6_protocol = {
	.handler	= eoip6_rcv,
	.flags		= INET6_PROTO_NOPOLICY | INET6_PROTO_FINAL,
};

/* The handler is global; it finds each packet's namespace table through skb->dev. */
int eoip_receive_init(void)
{
	if (inet6_add_protocol(&eoip6_protocol, EOIP6_NEXTHDR)) {
		pr_err("eoipv6: IPv6 next header %u already has a handler\n", EOIP6_NEXTHDR);
		return -EBUSY;
	}
	return 0;
}

/* inet6_del_protocol() waits for running handlers (synchronize_net). */
void eoip_receive_exit(void)
{
	inet6_del_protocol(&eoip6_protocol, EOIP6_NEXTHDR);
}

int eoip_receive_net_start(struct net *net)
{
	return 0;
}

void eoip_receive_net_stop(struct net *net)
{
}
