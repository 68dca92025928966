// SPDX-License-Identifier: GPL-2.0
/*
 * eoipv6.ko: MikroTik EoIPv6 (link kind "eoipv6"), IPv6 next header 97.
 * Built from the same concern files as eoip.ko (see eoip.c).
 */
#define EOIP_IPV6 1

#include "main.c"
#include "device.c"
#include "netlink.c"
#include "lookup.c"
#include "keepalive.c"
#include "receive.c"
#include "receive6.c"
#include "send.c"
#include "send6.c"

MODULE_DESCRIPTION("MikroTik EoIPv6 (Ethernet over IPv6, next header 97) tunnels");
