/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Parsing helpers of the GRE keepalive programs: Ethernet with VLAN tags,
 * IPv4 (options, header checksum), IPv6 (extension chain) and the GRE header
 * constants. They decode and bound headers; they decide nothing (the checks
 * in the order of docs/keepalive.md live in gre_keepalive_decide.h).
 *
 * Everything is an offset from the start of the packet (see cursor.h). A
 * program defines KA_CTX (its context type) before including this file.
 */
#ifndef GREOIP_GRE_KEEPALIVE_PARSE_H
#define GREOIP_GRE_KEEPALIVE_PARSE_H

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
#error "define KA_CTX (struct xdp_md or struct __sk_buff) before including gre_keepalive_parse.h"
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

#endif /* GREOIP_GRE_KEEPALIVE_PARSE_H */
