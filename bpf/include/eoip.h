/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Wire constants of MikroTik EoIP (IPv4, protocol 47) and EoIPv6 (IPv6,
 * next header 97) shared by eoip_encap.c and eoip_decap.c, as
 * src/wire/eoip.ts and src/wire/eoipv6.ts define them, and the outer IPv4
 * header checksum.
 */
#ifndef GREOIP_EOIP_H
#define GREOIP_EOIP_H

#include <linux/if_ether.h>
#include <linux/types.h>

/* EoIP: 20 01 64 00 | frame length (big-endian) | tunnel id (little-endian) */
#define EOIP_HLEN 8
#define EOIP_MAGIC0 0x20
#define EOIP_MAGIC1 0x01
#define EOIP_MAGIC2 0x64
#define EOIP_MAGIC3 0x00
#define EOIP_MAGIC_LEN 4
#define EOIP_IPPROTO 47

/* EoIPv6: byte0 = (tid >> 8) << 4 | 3, byte1 = tid & 0xff; no length field. */
#define EOIPV6_HLEN 2
#define EOIPV6_VERSION 3
#define EOIPV6_VERSION_MASK 0x0f
#define EOIPV6_NEXTHDR 97
#define EOIPV6_MAX_TUNNEL_ID 0x0fff

#define EOIP_IPV4_HLEN 20
#define EOIP_IPV4_MAX_HLEN 60
#define EOIP_IPV6_HLEN 40
#define EOIP_IPV4_VERSION 4
#define EOIP_IPV6_VERSION 6
#define EOIP_IPV4_FRAG_MASK 0x3fff /* MF flag and fragment offset */

/* Outer header bytes in front of the inner Ethernet frame. */
#define EOIP_OVERHEAD4 (EOIP_IPV4_HLEN + EOIP_HLEN)
#define EOIP_OVERHEAD6 (EOIP_IPV6_HLEN + EOIPV6_HLEN)

/* One's complement checksum of a 20-byte IPv4 header held in `words` (checksum field zero). */
static __always_inline __u16 eoip_ipv4_checksum(const __u16 *words)
{
	__u32 sum = 0;
	int i;

#pragma unroll
	for (i = 0; i < EOIP_IPV4_HLEN / 2; i++)
		sum += words[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

#endif /* GREOIP_EOIP_H */
