/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The maps of the eBPF EoIP datapath (eoip_encap.c, eoip_decap.c). They are
 * pinned by name (LIBBPF_PIN_BY_NAME) under one directory per network
 * namespace, so both objects share them and a restarted daemon adopts them.
 * Layouts are mirrored byte for byte in src/bpf/eoip-maps.ts.
 */
#ifndef GREOIP_EOIP_MAPS_H
#define GREOIP_EOIP_MAPS_H

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

/* One statistics slot per tunnel; the daemon hands them out. */
#define EOIP_MAX_TUNNELS 4096
/* Transmit entries: a tap and, for GSO frames, the far end of its segmenter veth. */
#define EOIP_MAX_TX (2 * EOIP_MAX_TUNNELS)

#define EOIP_ADDR_LEN 16

/*
 * Receive verdicts: 0-8 are the drop reasons of src/eoip/datapath.ts
 * (DropReason), in its order, so a corpus packet can be checked against both
 * engines; the rest say what the program did with a packet that was ours.
 */
enum eoip_verdict {
	EOIP_V_BAD_IP_HEADER = 0,
	EOIP_V_FRAGMENT = 1,
	EOIP_V_NOT_EOIP = 2,
	EOIP_V_TRUNCATED = 3,
	EOIP_V_FRAME_TOO_SHORT = 4,
	EOIP_V_FRAME_EXCEEDS_DATA = 5,
	EOIP_V_UNKNOWN_TUNNEL_ID = 6,
	EOIP_V_WRONG_SOURCE = 7,
	EOIP_V_WRONG_DESTINATION = 8,
	/* The inner frame went to the tap (fast path). */
	EOIP_V_DELIVERED = 9,
	/* Ours, passed up the stack for the daemon: a keepalive. */
	EOIP_V_SLOW_KEEPALIVE = 10,
	/* Ours, passed up the stack for the daemon: headers the program does not take apart (IPv6 extension headers, GSO). */
	EOIP_V_SLOW_OTHER = 11,
	/* Ours and sound, but the decapsulation or the redirect failed. */
	EOIP_V_RX_ERROR = 12,
	/* Transmit: the encapsulation program ran on a device no tunnel claims. */
	EOIP_V_TX_NO_TUNNEL = 13,
	EOIP_V_COUNT = 14,
};

/* Slots of eoip_verdicts: the receive verdicts, then the transmit outcomes of frames no tunnel claims. */
#define EOIP_VERDICT_SLOTS 16

/* eoip_tx.role */
enum eoip_tx_role {
	/* The tunnel's tap: frames leave through its egress hook. */
	EOIP_ROLE_TAP = 0,
	/* The far end of the tap's segmenter veth: GSO frames arrive cut into MTU-sized segments. */
	EOIP_ROLE_SEGMENTS = 1,
	/* The near end: encapsulated non-IP frames arrive here, parsed as the outer family, to be routed. */
	EOIP_ROLE_RESEND = 2,
};

/* eoip_tx: key u32 ifindex (the device the program runs on). */
struct eoip_tx {
	__u32 family;		/* 4 or 6 */
	__u32 tunnel_id;	/* 0-65535 (EoIP), 0-4095 (EoIPv6) */
	__u32 slot;		/* index into eoip_stats */
	__u32 role;		/* enum eoip_tx_role */
	__u32 underlay_ifindex; /* bpf_redirect_neigh() target */
	__u32 max_frame;	/* largest Ethernet frame sent on the fast path (underlay MTU minus overhead) */
	__u32 segmenter_ifindex; /* EOIP_ROLE_TAP: where GSO frames go to be cut; 0 = slow path */
	__u32 tap_ifindex;	/* EOIP_ROLE_SEGMENTS: the tap, for segments over max_frame */
	__u32 resend_ifindex;	/* EOIP_ROLE_TAP: the segmenter end non-IP frames leave by, encapsulated */
	__u8 ttl;
	__u8 tos;
	__u8 pad[2];
	__u8 local[EOIP_ADDR_LEN]; /* IPv4 in the first 4 bytes */
	__u8 remote[EOIP_ADDR_LEN];
};

/* eoip_rx key: what a received packet is matched by. */
struct eoip_rx_key {
	__u32 family;
	__u32 tunnel_id;
	__u8 remote[EOIP_ADDR_LEN];
};

/* eoip_rx.flags */
#define EOIP_RX_LOCAL_CONFIGURED (1U << 0) /* `local` was configured: another destination is WRONG_DESTINATION */

struct eoip_rx {
	__u32 tap_ifindex;
	__u32 slot;
	__u32 flags;
	__u32 reserved;
	/* The configured local address, or the one the kernel chose: only packets to it take the fast path. */
	__u8 local[EOIP_ADDR_LEN];
};

/* eoip_tids key: a tunnel id in use by some tunnel of the family (value: how many), to tell UNKNOWN_TUNNEL_ID from WRONG_SOURCE. */
struct eoip_tid_key {
	__u32 family;
	__u32 tunnel_id;
};

/* Per tunnel and per CPU (eoip_stats[slot]). */
struct eoip_stats {
	__u64 rx_packets;
	__u64 rx_bytes;
	__u64 tx_packets;
	__u64 tx_bytes;
	/* Matched this tunnel but malformed (frame too short, frame beyond the data). */
	__u64 rx_errors;
	/* Encapsulation or redirect failed. */
	__u64 tx_errors;
	/* Received packets passed up to the daemon (keepalives, fragments, extension headers). */
	__u64 rx_slow;
	/* Frames left on the tap for the daemon (over max_frame, not IP, no segmenter). */
	__u64 tx_slow;
	/* GSO frames sent to the segmenter. */
	__u64 tx_segmented;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EOIP_MAX_TX);
	__type(key, __u32);
	__type(value, struct eoip_tx);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} eoip_tx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EOIP_MAX_TUNNELS);
	__type(key, struct eoip_rx_key);
	__type(value, struct eoip_rx);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} eoip_rx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EOIP_MAX_TUNNELS);
	__type(key, struct eoip_tid_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} eoip_tids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EOIP_MAX_TUNNELS);
	__type(key, __u32);
	__type(value, struct eoip_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} eoip_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EOIP_VERDICT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} eoip_verdicts SEC(".maps");

static __always_inline void eoip_count_verdict(__u32 verdict)
{
	__u64 *n = bpf_map_lookup_elem(&eoip_verdicts, &verdict);

	if (n)
		*n += 1;
}

static __always_inline struct eoip_stats *eoip_stats_of(__u32 slot)
{
	return bpf_map_lookup_elem(&eoip_stats, &slot);
}

#endif /* GREOIP_EOIP_MAPS_H */
