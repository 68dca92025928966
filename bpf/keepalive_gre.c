// SPDX-License-Identifier: GPL-2.0-only
/*
 * GRE keepalive reflector for a gre (IPv4) device: generic XDP, section
 * "prog" so that `ip link set dev gre1 xdp object keepalive_gre.o` finds it.
 *
 * What the program sees depends on the kernel and the device:
 *   outer-l3  the outer IPv4 header (kernels before 5.14; 5.14+ on a gre
 *             device without a remote)
 *   inner-l3  the decapsulated inner packet, B->A / GRE 0 (5.14+, remote set)
 * It takes the bytes as outer-l3 when they start with a sound IPv4 + GRE
 * header pair carrying 0x0800/0x0004/0x86DD followed by at least a minimal IP
 * header of that family; otherwise as inner-l3 (ka_config local/remote are
 * then the addresses to check, when set).
 *
 * The reply is the inner packet: the outer IPv4 and GRE headers are stripped
 * (outer-l3) and anything after the inner packet trimmed, then XDP_TX hands
 * it to the gre device, which encapsulates it into the tunnel towards the peer.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define KA_CTX struct xdp_md
#include "gre_keepalive_decide.h"
#include "xdp_tx_inner.h"

SEC("prog")
int keepalive_gre(struct xdp_md *ctx)
{
	struct cursor c;
	struct ka_decision d;
	const struct ka_config *cfg;
	int verdict = KA_NOT_GRE;

	cfg = ka_config_get();
	if (!cfg)
		return XDP_PASS;
	cursor_init(&c, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
	ka_decision_init(&d);

	if (ka_version_at(&c, 0) == IPV4_VERSION)
		verdict = ka_decide_outer(ctx, &c, 0, cfg, &d);
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
