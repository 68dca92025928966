/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The maps every keepalive program carries (one set per object file; user
 * space pins them with `bpftool prog loadall ... pinmaps DIR` or finds them
 * by name on the loaded program). Layouts are mirrored in src/bpf/maps.ts.
 */
#ifndef GREOIP_GRE_KEEPALIVE_MAPS_H
#define GREOIP_GRE_KEEPALIVE_MAPS_H

#include <linux/bpf.h>
#include <linux/in6.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

/* ka_counters: one u64 per CPU per slot; slots 0-8 are the verdicts. */
#define KA_COUNTER_SLOTS 16
/* A reply was decided but could not be sent (head/tail adjust, no route). */
#define KA_COUNTER_TX_ERROR 9

/* ka_config.mode */
enum ka_mode {
	KA_MODE_STRICT = 0,
	KA_MODE_NAT = 1,
};

/*
 * ka_config.flags. The tunnel addresses are independent of each other and of
 * the tunnel's own family (an ip6gre tunnel may carry IPv4 keepalives), as in
 * the TypeScript policy: one bit per address and family.
 */
#define KA_CFG_ALLOWLIST (1U << 0) /* only peers found in ka_peers4/ka_peers6 */
#define KA_CFG_LOCAL4 (1U << 1)	   /* local4 holds our tunnel address */
#define KA_CFG_REMOTE4 (1U << 2)   /* remote4 holds the tunnel peer */
#define KA_CFG_LOCAL6 (1U << 3)
#define KA_CFG_REMOTE6 (1U << 4)

struct ka_config {
	__u32 mode;
	__u32 flags;
	__be32 local4;
	__be32 remote4;
	struct in6_addr local6;
	struct in6_addr remote6;
	/* keepalive_tc: where the plain reply leaves; 0 asks bpf_fib_lookup. */
	__u32 underlay_ifindex;
	__u32 reserved;
};

struct ka_lpm4_key {
	__u32 prefixlen;
	__be32 addr;
};

struct ka_lpm6_key {
	__u32 prefixlen;
	struct in6_addr addr;
};

#define KA_MAX_PEERS 1024

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KA_COUNTER_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} ka_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ka_config);
} ka_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, KA_MAX_PEERS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ka_lpm4_key);
	__type(value, __u32);
} ka_peers4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, KA_MAX_PEERS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ka_lpm6_key);
	__type(value, __u32);
} ka_peers6 SEC(".maps");

static __always_inline void ka_count(__u32 slot)
{
	__u64 *packets = bpf_map_lookup_elem(&ka_counters, &slot);

	if (packets)
		*packets += 1;
}

static __always_inline const struct ka_config *ka_config_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&ka_config, &zero);
}

#endif /* GREOIP_GRE_KEEPALIVE_MAPS_H */
