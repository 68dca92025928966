/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The GRE keepalive decision of docs/keepalive.md, shared by every program in
 * bpf/. It mirrors src/gre-keepalive/decide.ts check for check and in the same
 * order: the shared corpus (test/gre-keepalive/vectors.ts) runs through both and
 * they must reach the same verdict and reply bytes. Header decoding is in
 * gre_keepalive_parse.h; this file holds only the checks and the policy.
 *
 * A decision never writes to the packet unless its verdict is KA_REPLY; then
 * the nat rewrite has been applied in place and the reply is the
 * `reply_len` bytes at `reply_off`. A program defines KA_CTX (its context
 * type) before including this file.
 */
#ifndef GREOIP_GRE_KEEPALIVE_DECIDE_H
#define GREOIP_GRE_KEEPALIVE_DECIDE_H

#include "gre_keepalive_parse.h"
#include "gre_keepalive_maps.h"

/* Verdicts: the numbers are shared with the TypeScript core and the counters. */
enum ka_verdict {
	KA_REPLY = 0,
	KA_NOT_GRE = 1,
	KA_NOT_KEEPALIVE = 2,
	KA_MALFORMED = 3,
	KA_FRAGMENT = 4,
	KA_PEER_NOT_ALLOWED = 5,
	KA_FORGED_SOURCE = 6,
	KA_THIRD_PARTY = 7,
	KA_TOO_LARGE = 8,
	KA_VERDICT_COUNT = 9,
};


/*
 * Internal: a step passed, go on with the next one. Negative, so it can never
 * be mistaken for a verdict (KA_REPLY is 0) nor index the counters.
 */
#define KA_STEP_PASSED (-1)

/* Largest inner packet answered: a keepalive is tens of bytes. */
#define KA_MAX_INNER 128

/* What a program hands the decision. */
enum ka_layout {
	KA_LAYOUT_OUTER_L3 = 0,
	KA_LAYOUT_OUTER_L2 = 1,
	KA_LAYOUT_INNER_L3 = 2,
};

struct ka_decision {
	/* Family of the inner packet (4 or 6) once it has been parsed. */
	__u32 family;
	__u32 reply_off;
	__u32 reply_len;
	/* Start of the outer IP header (the L2 length for outer-l2); 0 for inner-l3. */
	__u32 outer_off;
	/* The outer GRE header was sound and an IP header of its family follows (outer layouts). */
	__u32 outer_committed;
	/* The nat mode rewrote the inner destination. */
	__u32 rewritten;
	/* Where the reply goes. */
	__be32 dst4;
	struct in6_addr dst6;
};


/* --------------------------------------------------------------------- GRE */

/*
 * The GRE header at `off` within `end`. `outer`: the carried protocol must be
 * one a keepalive request uses (0x0800, 0x0004, 0x86DD); otherwise the inner
 * keepalive's own (0x0000, 0x86DD). On KA_STEP_PASSED, *next is the offset
 * after the header and *proto its protocol.
 */
static __always_inline int ka_check_gre(const struct cursor *c, __u32 off, __u32 end, int outer, __u32 *next,
					__u16 *proto)
{
	__u16 word, p;
	__u32 len;

	if (off > end || end - off < GRE_BASE_HLEN)
		return KA_MALFORMED;
	if (cursor_be16(c, off, &word) || cursor_be16(c, off + 2, &p))
		return KA_MALFORMED;
	if (word & GRE_VERSION_MASK)
		return KA_NOT_KEEPALIVE;
	if (word & GRE_DISCARD_BITS)
		return KA_NOT_KEEPALIVE;
	len = GRE_BASE_HLEN;
	if (word & GRE_FLAG_C)
		len += GRE_OPTION_LEN;
	if (word & GRE_FLAG_K)
		len += GRE_OPTION_LEN;
	if (word & GRE_FLAG_S)
		len += GRE_OPTION_LEN;
	if (end - off < len)
		return KA_MALFORMED;
	if (outer) {
		if (p != GRE_PROTO_IPV4 && p != GRE_PROTO_HUAWEI_IPV4 && p != GRE_PROTO_IPV6)
			return KA_NOT_KEEPALIVE;
	} else if (p != GRE_PROTO_KEEPALIVE && p != GRE_PROTO_IPV6) {
		return KA_NOT_KEEPALIVE;
	}
	*next = off + len;
	*proto = p;
	return KA_STEP_PASSED;
}

/* ------------------------------------------------------------ inner packet */

/*
 * Steps 4-6 for an inner header already decoded into `ip`, lying within `end`
 * (the enclosing IP packet, or the data for inner-l3): a small GRE keepalive.
 */
static __always_inline int ka_check_inner(KA_CTX *ctx, const struct cursor *c, const struct ka_ip *ip, __u32 end,
					  struct ka_decision *d)
{
	__u32 gre_end;
	__u16 proto;
	int v;

	if (ip->end > end)
		return KA_MALFORMED;
	if (ip->version == IPV4_VERSION) {
		if (ka_ipv4_header_sum(ctx, ip->off, ip->hdr_len) != 0xffff)
			return KA_MALFORMED;
	}
	if (ip->fragment)
		return KA_FRAGMENT;
	if (ip->upper != IPPROTO_GRE)
		return KA_NOT_KEEPALIVE;
	d->family = ip->version;
	v = ka_check_gre(c, ip->off + ip->hdr_len, ip->end, 0, &gre_end, &proto);
	if (v != KA_STEP_PASSED)
		return v;
	if (ip->end - ip->off > KA_MAX_INNER)
		return KA_TOO_LARGE;
	d->reply_off = ip->off;
	d->reply_len = ip->end - ip->off;
	return KA_STEP_PASSED;
}

/* ------------------------------------------------------------------ policy */

static __always_inline int ka_peer_allowed4(const struct ka_config *cfg, __be32 addr)
{
	struct ka_lpm4_key key = { .prefixlen = 32, .addr = addr };

	if (!(cfg->flags & KA_CFG_ALLOWLIST))
		return 1;
	return bpf_map_lookup_elem(&ka_peers4, &key) != NULL;
}

static __always_inline int ka_peer_allowed6(const struct ka_config *cfg, const struct in6_addr *addr)
{
	struct ka_lpm6_key key = { .prefixlen = 128 };

	if (!(cfg->flags & KA_CFG_ALLOWLIST))
		return 1;
	__builtin_memcpy(&key.addr, addr, sizeof(key.addr));
	return bpf_map_lookup_elem(&ka_peers6, &key) != NULL;
}

/* RFC 1918 and RFC 6598 space: where a NATed peer's own address lives. */
static __always_inline int ka_is_private4(__be32 addr)
{
	__u32 a = bpf_ntohl(addr);

	return (a >> 24) == 10 || (a >> 20) == 0xac1 || (a >> 16) == 0xc0a8 || (a >> 22) == 0x191;
}

/* Unique local addresses, fc00::/7. */
static __always_inline int ka_is_private6(const struct in6_addr *addr)
{
	return (addr->s6_addr[0] & 0xfe) == 0xfc;
}

static __always_inline int ka_addr6_equal(const struct in6_addr *a, const struct in6_addr *b)
{
	const __u32 *x = a->s6_addr32, *y = b->s6_addr32;

	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])) == 0;
}

/* nat: the inner IPv4 destination becomes `to`; the header checksum is recomputed. */
static __always_inline int ka_rewrite4(KA_CTX *ctx, const struct cursor *c, const struct ka_ip *ip, __be32 to)
{
	struct iphdr *iph = cursor_at(c, ip->off, sizeof(*iph));
	int sum;

	if (!iph)
		return -1;
	iph->daddr = to;
	iph->check = 0;
	sum = ka_ipv4_header_sum(ctx, ip->off, ip->hdr_len);
	if (sum < 0)
		return -1;
	iph = cursor_at(c, ip->off, sizeof(*iph));
	if (!iph)
		return -1;
	iph->check = bpf_htons((__u16)~sum);
	return 0;
}

static __always_inline int ka_rewrite6(const struct cursor *c, const struct ka_ip *ip, const struct in6_addr *to)
{
	struct ipv6hdr *ip6h = cursor_at(c, ip->off, sizeof(*ip6h));

	if (!ip6h)
		return -1;
	__builtin_memcpy(&ip6h->daddr, to, sizeof(ip6h->daddr));
	return 0;
}

/*
 * Steps 7-9 when the outer header is visible: the peer is the outer source,
 * the inner source must be the outer destination (our address), the inner
 * destination the outer source (or private, in nat mode: rewritten).
 */
static __always_inline int ka_policy_outer(KA_CTX *ctx, const struct cursor *c, const struct ka_config *cfg, const struct ka_ip *outer,
					   const struct ka_ip *inner, struct ka_decision *d)
{
	if (inner->version != outer->version)
		return KA_MALFORMED;
	if (outer->version == IPV4_VERSION) {
		struct iphdr *o = cursor_at(c, outer->off, sizeof(*o));
		struct iphdr *i = cursor_at(c, inner->off, sizeof(*i));
		__be32 peer, our;

		if (!o || !i)
			return KA_MALFORMED;
		peer = o->saddr;
		our = o->daddr;
		if (!ka_peer_allowed4(cfg, peer))
			return KA_PEER_NOT_ALLOWED;
		if (i->saddr != our)
			return KA_FORGED_SOURCE;
		if (i->daddr != peer) {
			if (cfg->mode != KA_MODE_NAT || !ka_is_private4(i->daddr))
				return KA_THIRD_PARTY;
			if (ka_rewrite4(ctx, c, inner, peer))
				return KA_MALFORMED;
			d->rewritten = 1;
		}
		d->dst4 = peer;
	} else {
		struct ipv6hdr *o = cursor_at(c, outer->off, sizeof(*o));
		struct ipv6hdr *i = cursor_at(c, inner->off, sizeof(*i));
		struct in6_addr peer, our, isrc, idst;

		if (!o || !i)
			return KA_MALFORMED;
		__builtin_memcpy(&peer, &o->saddr, sizeof(peer));
		__builtin_memcpy(&our, &o->daddr, sizeof(our));
		__builtin_memcpy(&isrc, &i->saddr, sizeof(isrc));
		__builtin_memcpy(&idst, &i->daddr, sizeof(idst));
		if (!ka_peer_allowed6(cfg, &peer))
			return KA_PEER_NOT_ALLOWED;
		if (!ka_addr6_equal(&isrc, &our))
			return KA_FORGED_SOURCE;
		if (!ka_addr6_equal(&idst, &peer)) {
			if (cfg->mode != KA_MODE_NAT || !ka_is_private6(&idst))
				return KA_THIRD_PARTY;
			if (ka_rewrite6(c, inner, &peer))
				return KA_MALFORMED;
			d->rewritten = 1;
		}
		__builtin_memcpy(&d->dst6, &peer, sizeof(peer));
	}
	return KA_REPLY;
}

/*
 * Steps 7-9 for inner-l3 (no outer header): the peer is the inner
 * destination; the inner source must be the configured local address and the
 * destination the configured remote, each checked only when configured unless
 * `require_addrs` (the plain-reply programs): then a missing local address is
 * KA_FORGED_SOURCE and a missing remote KA_THIRD_PARTY.
 */
static __always_inline int ka_policy_inner(KA_CTX *ctx, const struct cursor *c, const struct ka_config *cfg, const struct ka_ip *inner,
					   int require_addrs, struct ka_decision *d)
{
	if (inner->version == IPV4_VERSION) {
		struct iphdr *i = cursor_at(c, inner->off, sizeof(*i));
		__be32 src, dst;

		if (!i)
			return KA_MALFORMED;
		src = i->saddr;
		dst = i->daddr;
		if (!ka_peer_allowed4(cfg, dst))
			return KA_PEER_NOT_ALLOWED;
		if (cfg->flags & KA_CFG_LOCAL4) {
			if (src != cfg->local4)
				return KA_FORGED_SOURCE;
		} else if (require_addrs) {
			return KA_FORGED_SOURCE;
		}
		d->dst4 = dst;
		if (cfg->flags & KA_CFG_REMOTE4) {
			if (dst != cfg->remote4) {
				if (cfg->mode != KA_MODE_NAT || !ka_is_private4(dst))
					return KA_THIRD_PARTY;
				if (ka_rewrite4(ctx, c, inner, cfg->remote4))
					return KA_MALFORMED;
				d->rewritten = 1;
			}
			d->dst4 = cfg->remote4;
		} else if (require_addrs) {
			return KA_THIRD_PARTY;
		}
	} else {
		struct ipv6hdr *i = cursor_at(c, inner->off, sizeof(*i));
		struct in6_addr src, dst;

		if (!i)
			return KA_MALFORMED;
		__builtin_memcpy(&src, &i->saddr, sizeof(src));
		__builtin_memcpy(&dst, &i->daddr, sizeof(dst));
		if (!ka_peer_allowed6(cfg, &dst))
			return KA_PEER_NOT_ALLOWED;
		if (cfg->flags & KA_CFG_LOCAL6) {
			if (!ka_addr6_equal(&src, &cfg->local6))
				return KA_FORGED_SOURCE;
		} else if (require_addrs) {
			return KA_FORGED_SOURCE;
		}
		__builtin_memcpy(&d->dst6, &dst, sizeof(dst));
		if (cfg->flags & KA_CFG_REMOTE6) {
			if (!ka_addr6_equal(&dst, &cfg->remote6)) {
				if (cfg->mode != KA_MODE_NAT || !ka_is_private6(&dst))
					return KA_THIRD_PARTY;
				if (ka_rewrite6(c, inner, &cfg->remote6))
					return KA_MALFORMED;
				d->rewritten = 1;
			}
			__builtin_memcpy(&d->dst6, &cfg->remote6, sizeof(d->dst6));
		} else if (require_addrs) {
			return KA_THIRD_PARTY;
		}
	}
	return KA_REPLY;
}

/* --------------------------------------------------------------- decisions */

static __always_inline void ka_decision_init(struct ka_decision *d)
{
	__builtin_memset(d, 0, sizeof(*d));
}

/*
 * The outer-l3 decision for an outer IP header at `at` (decideOuter in
 * decide.ts). d->outer_committed tells whether the bytes really look like an
 * outer header: sound IP and GRE headers with a keepalive-capable protocol,
 * followed by at least a minimal IP header of the family that protocol names.
 * Programs that must guess the layout fall back to inner-l3 when it is not set.
 */
static __always_inline int ka_decide_outer(KA_CTX *ctx, const struct cursor *c, __u32 at, const struct ka_config *cfg,
					   struct ka_decision *d)
{
	__u32 end = cursor_len(c);
	struct ka_ip outer = {}, inner = {};
	__u32 version, inner_at, wanted, min_len;
	__u16 gre_proto;
	__u8 proto;
	int v;

	d->outer_off = at;
	if (at >= end)
		return KA_NOT_GRE;
	version = ka_version_at(c, at);
	if (version == IPV4_VERSION) {
		if (end - at >= IPV4_MIN_HLEN && !cursor_u8(c, at + offsetof(struct iphdr, protocol), &proto) &&
		    proto != IPPROTO_GRE)
			return KA_NOT_GRE;
		if (ka_ipv4_decode(ctx, c, at, end, &outer))
			return KA_MALFORMED;
		if (outer.end > end)
			return KA_MALFORMED;
		if (outer.fragment)
			return KA_FRAGMENT;
	} else if (version == IPV6_VERSION) {
		if (ka_ipv6_decode(ctx, at, end, &outer))
			return KA_MALFORMED;
		if (outer.upper != IPPROTO_GRE)
			return KA_NOT_GRE;
		if (outer.end > end)
			return KA_MALFORMED;
		if (outer.fragment)
			return KA_FRAGMENT;
	} else {
		return KA_NOT_GRE;
	}

	v = ka_check_gre(c, at + outer.hdr_len, outer.end, 1, &inner_at, &gre_proto);
	if (v != KA_STEP_PASSED)
		return v;
	wanted = gre_proto == GRE_PROTO_IPV6 ? IPV6_VERSION : IPV4_VERSION;
	min_len = wanted == IPV6_VERSION ? IPV6_HLEN : IPV4_MIN_HLEN;

	if (inner_at >= outer.end)
		return KA_MALFORMED;
	version = ka_version_at(c, inner_at);
	d->outer_committed = version == wanted && outer.end - inner_at >= min_len;
	if (version != wanted)
		return KA_MALFORMED;
	if (wanted == IPV4_VERSION) {
		if (ka_ipv4_decode(ctx, c, inner_at, outer.end, &inner))
			return KA_MALFORMED;
	} else if (ka_ipv6_decode(ctx, inner_at, outer.end, &inner)) {
		return KA_MALFORMED;
	}
	v = ka_check_inner(ctx, c, &inner, outer.end, d);
	if (v != KA_STEP_PASSED)
		return v;
	return ka_policy_outer(ctx, c, cfg, &outer, &inner, d);
}

/* The inner-l3 decision for a decapsulated packet at `at` (decideInner in decide.ts). */
static __always_inline int ka_decide_inner(KA_CTX *ctx, const struct cursor *c, __u32 at, const struct ka_config *cfg,
					   int require_addrs, struct ka_decision *d)
{
	__u32 end = cursor_len(c);
	struct ka_ip inner = {};
	__u32 version;
	__u8 proto;
	int v;

	d->outer_off = 0;
	if (at >= end)
		return KA_NOT_GRE;
	version = ka_version_at(c, at);
	if (version == IPV4_VERSION) {
		/* Step 1 for this layout: the packet we see is the one that must be GRE. */
		if (end - at >= IPV4_MIN_HLEN && !cursor_u8(c, at + offsetof(struct iphdr, protocol), &proto) &&
		    proto != IPPROTO_GRE)
			return KA_NOT_GRE;
		if (ka_ipv4_decode(ctx, c, at, end, &inner))
			return KA_MALFORMED;
	} else if (version == IPV6_VERSION) {
		if (ka_ipv6_decode(ctx, at, end, &inner))
			return KA_MALFORMED;
		if (inner.upper != IPPROTO_GRE)
			return KA_NOT_GRE;
	} else {
		return KA_NOT_GRE;
	}
	v = ka_check_inner(ctx, c, &inner, end, d);
	if (v != KA_STEP_PASSED)
		return v;
	return ka_policy_inner(ctx, c, cfg, &inner, require_addrs, d);
}

/* The outer-l2 decision: Ethernet with up to two VLAN tags, then ka_decide_outer. */
static __always_inline int ka_decide_outer_l2(KA_CTX *ctx, const struct cursor *c, const struct ka_config *cfg,
					      struct ka_decision *d)
{
	__u32 l3_off;

	if (ka_skip_ethernet(c, &l3_off))
		return KA_NOT_GRE;
	return ka_decide_outer(ctx, c, l3_off, cfg, d);
}

#endif /* GREOIP_GRE_KEEPALIVE_DECIDE_H */
