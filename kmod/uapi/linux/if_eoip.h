/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Netlink interface of the greoip kernel modules: link kinds "eoip" (eoip.ko,
 * MikroTik EoIP over IPv4) and "eoipv6" (eoipv6.ko, EoIPv6).
 *
 * IFLA_INFO_DATA reuses the IFLA_GRE_* numbers of <linux/if_tunnel.h>, because
 * the out-of-tree eoip module and its `eoip` tool used them and its users'
 * scripts must keep working:
 *
 *   IFLA_GRE_LINK    1   u32  underlay ifindex (0: any)
 *   IFLA_GRE_IKEY    4   u32  tunnel id, host order (eoip 0-65535, eoipv6 0-4095)
 *   IFLA_GRE_LOCAL   6   in_addr / in6_addr (unset or any: any local address)
 *   IFLA_GRE_REMOTE  7   in_addr / in6_addr (required)
 *   IFLA_GRE_TTL     8   u8   TTL / hop limit (0: the route's default)
 *   IFLA_GRE_TOS     9   u8   TOS / traffic class (1: inherit from the frame)
 *
 * and adds the RouterOS keepalive below.
 */
#ifndef _UAPI_LINUX_IF_EOIP_H
#define _UAPI_LINUX_IF_EOIP_H

/* u32 seconds between keepalives, 0-3600; 0 is RouterOS `keepalive none`. */
#define IFLA_EOIP_KA_INTERVAL	32
/* u8 intervals of silence before the carrier drops, 1-255. */
#define IFLA_EOIP_KA_RETRIES	33
/*
 * Read-only, in dumps only (greoip's modules; the old module has neither);
 * a request carrying them is refused:
 *   u8  keepalive state: 0 off (keepalive none), 1 waiting (none heard yet,
 *       carrier on), 2 up, 3 down (interval x retries of silence, carrier off)
 *   u32 milliseconds since the last keepalive arrived; absent if none ever did
 *   u32 keepalives received / sent since the link was created (wrapping)
 */
#define IFLA_EOIP_KA_STATE	34
#define IFLA_EOIP_KA_LAST_RX_MS	35
#define IFLA_EOIP_KA_RX		36
#define IFLA_EOIP_KA_TX		37
#define IFLA_EOIP_MAX		IFLA_EOIP_KA_TX

#define EOIP_KA_STATE_OFF	0
#define EOIP_KA_STATE_WAITING	1
#define EOIP_KA_STATE_UP	2
#define EOIP_KA_STATE_DOWN	3

#define EOIP_MAX_TUNNEL_ID	0xffff
#define EOIPV6_MAX_TUNNEL_ID	0x0fff
#define EOIP_MAX_KA_INTERVAL	3600
#define EOIP_DEFAULT_KA_INTERVAL 10
#define EOIP_DEFAULT_KA_RETRIES	10
#define EOIP_DEFAULT_TTL	255

/* TOS / traffic class value meaning "copy it from the encapsulated IP packet". */
#define EOIP_TOS_INHERIT	1

#endif /* _UAPI_LINUX_IF_EOIP_H */
