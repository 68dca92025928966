// SPDX-License-Identifier: GPL-2.0-only
/*
 * GRE keepalive reflector for an ip6gre device: generic XDP, section "prog"
 * (`ip link set dev gre6a xdp object keepalive_gre6.o`).
 *
 * What the program sees depends on the kernel and the device:
 *   outer-l2  before 5.14: the underlay's Ethernet header, then the outer IPv6
 *   outer-l3  the outer IPv6 header with no L2 in front
 *   inner-l3  the decapsulated inner packet (5.14+, remote set)
 * The layouts are tried in that order. An outer layout is taken when the
 * bytes hold a sound IPv6 + GRE header pair carrying 0x0800/0x0004/0x86DD,
 * followed by at least a minimal IP header of that family (ka_decide_outer's
 * outer_committed); otherwise the packet is the inner one.
 *
 * The reply is the inner packet (everything in front of it stripped, anything
 * after it trimmed), handed back to the device with XDP_TX, which
 * encapsulates it into the tunnel towards the peer.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define KA_CTX struct xdp_md
#include "gre_keepalive_decide.h"
#include "xdp_tx_inner.h"

SEC("prog")
int keepalive_gre6(struct xdp_md *ctx)
{
	struct cursor c;
	struct ka_decision d;
	const struct ka_config *cfg;
	__u32 l3_off;
	int verdict = KA_NOT_GRE;

	cfg = ka_config_get();
	if (!cfg)
		return XDP_PASS;
	cursor_init(&c, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
	ka_decision_init(&d);

	if (!ka_skip_ethernet(&c, &l3_off) && ka_version_at(&c, l3_off) == IPV6_VERSION)
		verdict = ka_decide_outer(ctx, &c, l3_off, cfg, &d);
	if (!d.outer_committed && ka_version_at(&c, 0) == IPV6_VERSION) {
		ka_decision_init(&d);
		verdict = ka_decide_outer(ctx, &c, 0, cfg, &d);
	}
	if (!d.outer_committed) {
		ka_decision_init(&d);
		verdict = ka_decide_inner(ctx, &c, 0, cfg, 0, &d);
	}
	ka_count(verdict);
	if (verdict != KA_REPLY)
		return XDP_PASS;

	return ka_xdp_tx_inner(ctx, &d);
}

char _license[] SEC("license") = "GPL";
