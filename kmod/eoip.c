// SPDX-License-Identifier: GPL-2.0
/*
 * eoip.ko: MikroTik EoIP over IPv4 (link kind "eoip").
 *
 * The concern files are shared with eoipv6.ko and differ only in what
 * EOIP_IPV6 selects, so each module compiles them as one unit: an object file
 * cannot be built twice with different settings for two modules.
 */
#define EOIP_IPV6 0

#include "main.c"
#include "device.c"
#include "netlink.c"
#include "lookup.c"
#include "keepalive.c"
#include "receive.c"
#include "receive4.c"
#include "send.c"
#include "send4.c"

MODULE_DESCRIPTION("MikroTik EoIP (Ethernet over IPv4 GRE-like) tunnels, beside gre/pptp");
