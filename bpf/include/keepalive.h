/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The GRE keepalive decision of docs/keepalive.md, shared by every program in
 * bpf/. It mirrors src/gre-keepalive/decide.ts check for check and in the same
 * order: the shared corpus (test/gre-keepalive/vectors.ts) runs through both and
 * they must reach the same verdict and reply bytes.
 *
 * Everything is an offset from the start of the packet (see cursor.h). A
 * decision never writes to the packet unless its verdict is KA_REPLY; then
 * the nat rewrite has been applied in place and the reply is the
 * `reply_len` bytes at `reply_off`. A program defines KA_CTX (its context
 * type) before including this file.
 */
#ifndef GREOIP_KEEPALIVE_H
#define GREOIP_KEEPALIVE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/types.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "cursor.h"
#include "keepalive_maps.h"

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

/* Internal: a step passed, go on with the next one. Same value as KA_REPLY. */
#define KA_OK KA_REPLY

/* Largest inner packet answered: a keepalive is tens of bytes. */
#define KA_MAX_INNER 128

/* Ethernet */
#define VLAN_TAG_LEN 4
#define KA_MAX_VLAN_TAGS 2
#define ETH_TYPE_OFFSET 12

/* IPv4 */
#define IPV4_VERSION 4
#define IPV4_MIN_HLEN 20
#define IPV4_MAX_HLEN 60
#define IPV4_OPT_END 0
#define IPV4_OPT_NOP 1
#define IPV4_FRAG_MF 0x2000
#define IPV4_FRAG_OFFSET_MASK 0x1fff

/* IPv6 (RFC 8200) */
#define IPV6_VERSION 6
#define IPV6_HLEN 40
#define IPV6_MAX_EXTENSIONS 8
#define IPV6_EXT_HOP_BY_HOP 0
#define IPV6_EXT_ROUTING 43
#define IPV6_EXT_FRAGMENT 44
#define IPV6_EXT_AUTH 51
#define IPV6_EXT_DEST_OPTIONS 60
#define IPV6_FRAG_HLEN 8
#define IPV6_FRAG_MF 0x0001

/* GRE (RFC 2784, RFC 2890) */
#define GRE_BASE_HLEN 4
#define GRE_OPTION_LEN 4
#define GRE_FLAG_C 0x8000
#define GRE_FLAG_R 0x4000
#define GRE_FLAG_K 0x2000
#define GRE_FLAG_S 0x1000
#define GRE_FLAG_STRICT 0x0800
#define GRE_RECUR_BIT5 0x0400
#define GRE_VERSION_MASK 0x0007
#define GRE_DISCARD_BITS (GRE_FLAG_R | GRE_FLAG_STRICT | GRE_RECUR_BIT5)
#define GRE_PROTO_KEEPALIVE 0x0000
#define GRE_PROTO_HUAWEI_IPV4 0x0004
#define GRE_PROTO_IPV4 0x0800
#define GRE_PROTO_IPV6 0x86dd

/* What a program hands the decision. */
enum ka_layout {
	KA_LAYOUT_OUTER_L3 = 0,
	KA_LAYOUT_OUTER_L2 = 1,
	KA_LAYOUT_INNER_L3 = 2,
};

/* A decoded IPv4 or IPv6 header (offsets from the packet start). */
struct ka_ip {
	__u32 off;
	__u32 version;
	/* IPv4: IHL * 4; IPv6: fixed header plus extension headers. */
	__u32 hdr_len;
	/* off + IPv4 total length, or off + 40 + IPv6 payload length. */
	__u32 end;
	/* IPv4 protocol; IPv6 protocol after the extension headers. */
	__u32 upper;
	__u32 fragment;
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

static __always_inline __u32 ka_version_at(const struct cursor *c, __u32 off)
{
	__u8 b0;

	if (cursor_u8(c, off, &b0))
		return 0;
	return b0 >> 4;
}

/* ---------------------------------------------------------------- Ethernet */

static __always_inline int ka_is_vlan_tpid(__u16 type)
{
	return type == ETH_P_8021Q || type == ETH_P_8021AD || type == ETH_P_QINQ1;
}

/*
 * Offset of the IP header after the Ethernet header and up to two VLAN tags,
 * or -1 when the frame does not carry IPv4/IPv6.
 */
static __always_inline int ka_skip_ethernet(const struct cursor *c, __u32 *l3_off)
{
	__u32 pos = ETH_TYPE_OFFSET;
	__u16 type;
	int tags;

#pragma unroll
	for (tags = 0; tags <= KA_MAX_VLAN_TAGS; tags++) {
		if (cursor_be16(c, pos, &type))
			return -1;
		if (type == ETH_P_IP || type == ETH_P_IPV6) {
			*l3_off = pos + sizeof(__be16);
			return 0;
		}
		if (!ka_is_vlan_tpid(type) || tags == KA_MAX_VLAN_TAGS)
			return -1;
		pos += VLAN_TAG_LEN;
	}
	return -1;
}

/*
 * The three loops of the decision (IPv4 options, the IPv4 header checksum,
 * the IPv6 extension chain) are global BPF functions, not inlined: the
 * verifier checks each one once, with unknown arguments, instead of once per
 * path reaching it with its own precise offsets, which multiplied into more
 * than its million-instruction limit. A global function cannot take packet
 * pointers, so each builds its own cursor from the program context: it reads
 * the packet as it is at the call (the programs move data/data_end only after
 * the decision). Results come back as plain numbers; the callers bound them
 * again before use.
 */
#ifndef KA_CTX
#error "define KA_CTX (struct xdp_md or struct __sk_buff) before including keepalive.h"
#endif

static __always_inline void ka_cursor_from_ctx(struct cursor *c, KA_CTX *ctx)
{
	cursor_init(c, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
}

/* -------------------------------------------------------------------- IPv4 */

/*
 * IPv4 options in [pos, end) are type-length-value except END and NOP, with
 * what Linux's ip_options_compile accepts as lengths: 1 when well formed.
 */
__noinline int ka_ipv4_options_ok(KA_CTX *ctx, __u32 pos, __u32 end)
{
	struct cursor c;
	__u8 type, len;
	int i;

	if (!ctx)
		return 0;
	ka_cursor_from_ctx(&c, ctx);
	/* Every option takes at least one byte: 40 steps cover the largest header. */
	for (i = 0; i < IPV4_MAX_HLEN - IPV4_MIN_HLEN; i++) {
		if (pos >= end)
			return 1;
		if (cursor_u8(&c, pos, &type))
			return 0;
		if (type == IPV4_OPT_END)
			return 1;
		if (type == IPV4_OPT_NOP) {
			pos++;
			continue;
		}
		if (end - pos < 2 || cursor_u8(&c, pos + 1, &len))
			return 0;
		if (len < 2 || len > end - pos)
			return 0;
		pos += len;
	}
	return pos >= end;
}

static __always_inline __u32 ka_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/*
 * One's complement sum, folded but not inverted, of the `hdr_len` bytes of
 * the IPv4 header at `off`: 0xffff for a valid header. -1 past the end.
 */
__noinline int ka_ipv4_header_sum(KA_CTX *ctx, __u32 off, __u32 hdr_len)
{
	struct cursor c;
	__u32 acc = 0;
	__u16 word;
	__u32 i;

	if (!ctx)
		return -1;
	ka_cursor_from_ctx(&c, ctx);
	for (i = 0; i < IPV4_MAX_HLEN; i += 2) {
		if (i >= hdr_len)
			break;
		if (cursor_be16(&c, off + i, &word))
			return -1;
		acc += word;
	}
	return (int)ka_csum_fold(acc);
}

/*
 * An IPv4 header at `off` within `end` (src/wire/ipv4.ts decode): -1 when
 * truncated or invalid. The total length is not checked against `end`: the
 * callers do, after their own earlier checks.
 */
static __always_inline int ka_ipv4_decode(KA_CTX *ctx, const struct cursor *c, __u32 off, __u32 end,
					  struct ka_ip *ip)
{
	struct iphdr *iph;
	__u32 hdr_len, tot_len;
	__u16 frag;

	if (off > end || end - off < IPV4_MIN_HLEN)
		return -1;
	iph = cursor_at(c, off, sizeof(*iph));
	if (!iph || iph->version != IPV4_VERSION)
		return -1;
	hdr_len = (__u32)iph->ihl * 4;
	if (hdr_len < IPV4_MIN_HLEN || end - off < hdr_len)
		return -1;
	tot_len = bpf_ntohs(iph->tot_len);
	if (tot_len < hdr_len)
		return -1;
	frag = bpf_ntohs(iph->frag_off);
	ip->upper = iph->protocol;
	if (hdr_len > IPV4_MIN_HLEN && !ka_ipv4_options_ok(ctx, off + IPV4_MIN_HLEN, off + hdr_len))
		return -1;
	ip->off = off;
	ip->version = IPV4_VERSION;
	ip->hdr_len = hdr_len;
	ip->end = off + tot_len;
	ip->fragment = (frag & (IPV4_FRAG_MF | IPV4_FRAG_OFFSET_MASK)) != 0;
	return 0;
}

/* -------------------------------------------------------------------- IPv6 */

static __always_inline int ka_ipv6_is_extension(__u32 type)
{
	return type == IPV6_EXT_HOP_BY_HOP || type == IPV6_EXT_ROUTING || type == IPV6_EXT_FRAGMENT ||
	       type == IPV6_EXT_AUTH || type == IPV6_EXT_DEST_OPTIONS;
}

/*
 * An IPv6 header and its extension chain at `off` within `end`
 * (src/wire/ipv6.ts decode) into *ip: -1 when truncated, out of order or too
 * long. A fragment header with a non-zero offset ends the walk: what follows
 * is the middle of a payload.
 */
__noinline int ka_ipv6_decode(KA_CTX *ctx, __u32 off, __u32 end, struct ka_ip *ip)
{
	struct cursor c;
	struct ipv6hdr *ip6h;
	__u32 payload_end, pos, next, len, count = 0;
	__u32 has_fragment = 0, frag_offset = 0, more_fragments = 0;
	__u8 following, len_byte;
	__u16 frag_word;
	int i;

	if (!ctx || !ip)
		return -1;
	ka_cursor_from_ctx(&c, ctx);
	if (off > end || end - off < IPV6_HLEN)
		return -1;
	ip6h = cursor_at(&c, off, sizeof(*ip6h));
	if (!ip6h || ip6h->version != IPV6_VERSION)
		return -1;
	payload_end = off + IPV6_HLEN + bpf_ntohs(ip6h->payload_len);
	next = ip6h->nexthdr;
	pos = off + IPV6_HLEN;

	for (i = 0; i <= IPV6_MAX_EXTENSIONS; i++) {
		if (!ka_ipv6_is_extension(next))
			break;
		/* RFC 8200 4.1: hop-by-hop options may only follow the fixed header. */
		if (next == IPV6_EXT_HOP_BY_HOP && count != 0)
			return -1;
		if (count == IPV6_MAX_EXTENSIONS)
			return -1;
		if (pos + 2 > end || pos + 2 > payload_end)
			return -1;
		if (cursor_u8(&c, pos, &following) || cursor_u8(&c, pos + 1, &len_byte))
			return -1;
		if (next == IPV6_EXT_FRAGMENT)
			len = IPV6_FRAG_HLEN;
		else if (next == IPV6_EXT_AUTH)
			len = ((__u32)len_byte + 2) * 4; /* RFC 4302: 4-octet units, minus 2 */
		else
			len = ((__u32)len_byte + 1) * 8;
		if (pos + len > end || pos + len > payload_end)
			return -1;
		count++;
		if (next == IPV6_EXT_FRAGMENT) {
			if (cursor_be16(&c, pos + 2, &frag_word))
				return -1;
			has_fragment = 1;
			frag_offset = frag_word >> 3;
			more_fragments = frag_word & IPV6_FRAG_MF;
		}
		pos += len;
		next = following;
		if (has_fragment && frag_offset != 0)
			break;
	}
	ip->off = off;
	ip->version = IPV6_VERSION;
	ip->hdr_len = pos - off;
	ip->end = payload_end;
	ip->upper = next;
	ip->fragment = has_fragment && (frag_offset != 0 || more_fragments);
	return 0;
}

/* --------------------------------------------------------------------- GRE */

/*
 * The GRE header at `off` within `end`. `outer`: the carried protocol must be
 * one a keepalive request uses (0x0800, 0x0004, 0x86DD); otherwise the inner
 * keepalive's own (0x0000, 0x86DD). On KA_OK, *next is the offset after the
 * header and *proto its protocol.
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
	return KA_OK;
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
	if (v != KA_OK)
		return v;
	if (ip->end - ip->off > KA_MAX_INNER)
		return KA_TOO_LARGE;
	d->reply_off = ip->off;
	d->reply_len = ip->end - ip->off;
	return KA_OK;
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
	if (v != KA_OK)
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
	if (v != KA_OK)
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
	if (v != KA_OK)
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

#endif /* GREOIP_KEEPALIVE_H */
