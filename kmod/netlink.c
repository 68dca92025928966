// SPDX-License-Identifier: GPL-2.0
/*
 * IFLA_INFO_DATA of the eoip / eoipv6 link kinds: the policy (ranges, lengths),
 * the checks it cannot express with messages that name the attribute, parsing
 * into a tunnel config, and dumping.
 * Numbers: uapi/linux/if_eoip.h (the IFLA_GRE_* ones, for existing tools).
 */
#include <net/netlink.h>

#include "eoip.h"

/* Old tools and scripts send these numbers: a renumbering would break them silently. */
static_assert(IFLA_GRE_LINK == 1 && IFLA_GRE_IKEY == 4 && IFLA_GRE_LOCAL == 6 &&
	      IFLA_GRE_REMOTE == 7 && IFLA_GRE_TTL == 8 && IFLA_GRE_TOS == 9);

/* The tunnel id field: 16 bits in EoIP, 12 in EoIPv6. Too wide for NLA_POLICY_MAX's s16. */
static EOIP_NLA_RANGE_CONST struct netlink_range_validation eoip_tid_range = {
	.max = EOIP_MAX_TID,
};

/*
 * Ranges and lengths are the policy's: the kernel checks them before
 * eoip_validate() runs and reports the attribute (its offset, and this policy
 * entry with the range) in the extended ack, so tools can say which one and
 * what it allows (kmod/tools/eoipctl, src/netlink/link.ts).
 */
const struct nla_policy eoip_policy[IFLA_EOIP_MAX + 1] = {
	[IFLA_GRE_LINK]		= { .type = NLA_U32 },
	[IFLA_GRE_IKEY]		= NLA_POLICY_FULL_RANGE(NLA_U32, &eoip_tid_range),
	[IFLA_GRE_LOCAL]	= NLA_POLICY_EXACT_LEN(EOIP_ADDR_LEN),
	[IFLA_GRE_REMOTE]	= NLA_POLICY_EXACT_LEN(EOIP_ADDR_LEN),
	[IFLA_GRE_TTL]		= { .type = NLA_U8 },
	[IFLA_GRE_TOS]		= { .type = NLA_U8 },
	[IFLA_EOIP_KA_INTERVAL]	= NLA_POLICY_MAX(NLA_U32, EOIP_MAX_KA_INTERVAL),
	[IFLA_EOIP_KA_RETRIES]	= NLA_POLICY_MIN(NLA_U8, 1),
	[IFLA_EOIP_KA_STATE]	= { .type = NLA_REJECT,
				    .reject_message = "IFLA_EOIP_KA_STATE: read-only" },
	[IFLA_EOIP_KA_LAST_RX_MS] = { .type = NLA_REJECT,
				      .reject_message = "IFLA_EOIP_KA_LAST_RX_MS: read-only" },
	[IFLA_EOIP_KA_RX]	= { .type = NLA_REJECT, .reject_message = "IFLA_EOIP_KA_RX: read-only" },
	[IFLA_EOIP_KA_TX]	= { .type = NLA_REJECT, .reject_message = "IFLA_EOIP_KA_TX: read-only" },
};

static union eoip_addr eoip_nla_get_addr(const struct nlattr *nla)
{
	union eoip_addr a = {};

#if EOIP_IPV6
	a.ip6 = nla_get_in6_addr(nla);
#else
	a.ip4 = nla_get_in_addr(nla);
#endif
	return a;
}

static int eoip_nla_put_addr(struct sk_buff *skb, int type, const union eoip_addr *a)
{
#if EOIP_IPV6
	return nla_put_in6_addr(skb, type, &a->ip6);
#else
	return nla_put_in_addr(skb, type, a->ip4);
#endif
}

/* A packet can come from and be sent to only one host: no any, multicast or broadcast. */
static bool eoip_addr_unicast(const union eoip_addr *a)
{
#if EOIP_IPV6
	return !ipv6_addr_any(&a->ip6) && !ipv6_addr_is_multicast(&a->ip6);
#else
	return !ipv4_is_zeronet(a->ip4) && !ipv4_is_multicast(a->ip4) &&
	       !ipv4_is_lbcast(a->ip4);
#endif
}

void eoip_config_defaults(struct eoip_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->ttl = EOIP_DEFAULT_TTL;
	cfg->ka_interval = EOIP_DEFAULT_KA_INTERVAL;
	cfg->ka_retries = EOIP_DEFAULT_KA_RETRIES;
}

static int eoip_validate_addrs(struct nlattr *data[], struct netlink_ext_ack *extack)
{
	union eoip_addr a;

	if (data[IFLA_GRE_REMOTE]) {
		a = eoip_nla_get_addr(data[IFLA_GRE_REMOTE]);
		if (!eoip_addr_unicast(&a)) {
			NL_SET_ERR_MSG_ATTR(extack, data[IFLA_GRE_REMOTE],
					    "IFLA_GRE_REMOTE: remote must be a unicast address");
			return -EINVAL;
		}
	}
	if (data[IFLA_GRE_LOCAL]) {
		a = eoip_nla_get_addr(data[IFLA_GRE_LOCAL]);
		if (!eoip_addr_any(&a) && !eoip_addr_unicast(&a)) {
			NL_SET_ERR_MSG_ATTR(extack, data[IFLA_GRE_LOCAL],
					    "IFLA_GRE_LOCAL: local must be a unicast address or unset");
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * rtnl_link_ops.validate: every check that needs no device (newlink and
 * changelink) beyond the policy's ranges and lengths.
 */
int eoip_validate(struct nlattr *tb[], struct nlattr *data[], struct netlink_ext_ack *extack)
{
	if (tb[IFLA_ADDRESS]) {
		if (nla_len(tb[IFLA_ADDRESS]) != ETH_ALEN ||
		    !is_valid_ether_addr(nla_data(tb[IFLA_ADDRESS]))) {
			NL_SET_ERR_MSG_ATTR(extack, tb[IFLA_ADDRESS],
					    "IFLA_ADDRESS: not a unicast Ethernet address");
			return -EADDRNOTAVAIL;
		}
	}
	if (!data)
		return 0;
	return eoip_validate_addrs(data, extack);
}

/*
 * Writes the attributes present in @data over @cfg (defaults for newlink, a
 * copy of the current config for changelink). Ranges and lengths were checked
 * by the policy, addresses by eoip_validate(); what is left needs the namespace.
 */
int eoip_config_apply(struct net *net, struct eoip_config *cfg, struct nlattr *data[],
		      struct netlink_ext_ack *extack)
{
	if (data[IFLA_GRE_LINK]) {
		cfg->link = nla_get_u32(data[IFLA_GRE_LINK]);
		if (cfg->link && !__dev_get_by_index(net, cfg->link)) {
			NL_SET_ERR_MSG_ATTR(extack, data[IFLA_GRE_LINK],
					    "IFLA_GRE_LINK: no such underlay interface");
			return -ENODEV;
		}
	}
	if (data[IFLA_GRE_IKEY])
		cfg->tid = nla_get_u32(data[IFLA_GRE_IKEY]);
	if (data[IFLA_GRE_LOCAL])
		cfg->local = eoip_nla_get_addr(data[IFLA_GRE_LOCAL]);
	if (data[IFLA_GRE_REMOTE])
		cfg->remote = eoip_nla_get_addr(data[IFLA_GRE_REMOTE]);
	if (data[IFLA_GRE_TTL])
		cfg->ttl = nla_get_u8(data[IFLA_GRE_TTL]);
	if (data[IFLA_GRE_TOS])
		cfg->tos = nla_get_u8(data[IFLA_GRE_TOS]);
	if (data[IFLA_EOIP_KA_INTERVAL])
		cfg->ka_interval = nla_get_u32(data[IFLA_EOIP_KA_INTERVAL]);
	if (data[IFLA_EOIP_KA_RETRIES])
		cfg->ka_retries = nla_get_u8(data[IFLA_EOIP_KA_RETRIES]);
	return 0;
}

size_t eoip_get_size(const struct net_device *dev)
{
	return nla_total_size(sizeof(u32)) +		/* IFLA_GRE_LINK */
	       nla_total_size(sizeof(u32)) +		/* IFLA_GRE_IKEY */
	       nla_total_size(EOIP_ADDR_LEN) +		/* IFLA_GRE_LOCAL */
	       nla_total_size(EOIP_ADDR_LEN) +		/* IFLA_GRE_REMOTE */
	       nla_total_size(sizeof(u8)) +		/* IFLA_GRE_TTL */
	       nla_total_size(sizeof(u8)) +		/* IFLA_GRE_TOS */
	       nla_total_size(sizeof(u32)) +		/* IFLA_EOIP_KA_INTERVAL */
	       nla_total_size(sizeof(u8)) +		/* IFLA_EOIP_KA_RETRIES */
	       nla_total_size(sizeof(u8)) +		/* IFLA_EOIP_KA_STATE */
	       nla_total_size(sizeof(u32)) +		/* IFLA_EOIP_KA_LAST_RX_MS */
	       nla_total_size(sizeof(u32)) +		/* IFLA_EOIP_KA_RX */
	       nla_total_size(sizeof(u32));		/* IFLA_EOIP_KA_TX */
}

static int eoip_fill_config(struct sk_buff *skb, const struct eoip_config *cfg)
{
	if (nla_put_u32(skb, IFLA_GRE_LINK, cfg->link) ||
	    nla_put_u32(skb, IFLA_GRE_IKEY, cfg->tid) ||
	    eoip_nla_put_addr(skb, IFLA_GRE_LOCAL, &cfg->local) ||
	    eoip_nla_put_addr(skb, IFLA_GRE_REMOTE, &cfg->remote) ||
	    nla_put_u8(skb, IFLA_GRE_TTL, cfg->ttl) ||
	    nla_put_u8(skb, IFLA_GRE_TOS, cfg->tos) ||
	    nla_put_u32(skb, IFLA_EOIP_KA_INTERVAL, cfg->ka_interval) ||
	    nla_put_u8(skb, IFLA_EOIP_KA_RETRIES, cfg->ka_retries))
		return -EMSGSIZE;
	return 0;
}

/* State and age are read without the lock: a dump is a snapshot, and each field is one word. */
static int eoip_fill_keepalive(struct sk_buff *skb, const struct eoip_keepalive *ka)
{
	unsigned long ago;

	if (nla_put_u8(skb, IFLA_EOIP_KA_STATE, READ_ONCE(ka->state)) ||
	    nla_put_u32(skb, IFLA_EOIP_KA_RX, READ_ONCE(ka->rx_count)) ||
	    nla_put_u32(skb, IFLA_EOIP_KA_TX, READ_ONCE(ka->tx_count)))
		return -EMSGSIZE;
	if (!READ_ONCE(ka->heard))
		return 0;
	ago = jiffies_to_msecs(jiffies - READ_ONCE(ka->last_rx));
	return nla_put_u32(skb, IFLA_EOIP_KA_LAST_RX_MS, min_t(unsigned long, ago, U32_MAX));
}

/* Newer kernels dump links under RCU only, not RTNL: read the config as the datapath does. */
int eoip_fill_info(struct sk_buff *skb, const struct net_device *dev)
{
	const struct eoip_tunnel *t = netdev_priv(dev);
	int err;

	rcu_read_lock();
	err = eoip_fill_config(skb, rcu_dereference(t->cfg));
	rcu_read_unlock();
	return err ? err : eoip_fill_keepalive(skb, &t->ka);
}
