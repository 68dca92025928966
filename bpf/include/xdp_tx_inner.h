/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The tunnel-side reply of the XDP keepalive programs: cut the packet down to
 * the inner packet [reply_off, reply_off + reply_len) and bounce it with
 * XDP_TX, which on a gre/ip6gre device encapsulates it into the tunnel.
 */
#ifndef GREOIP_XDP_TX_INNER_H
#define GREOIP_XDP_TX_INNER_H

#include "gre_keepalive_decide.h"

static __always_inline int ka_xdp_tx_inner(struct xdp_md *ctx, const struct ka_decision *d)
{
	void *data, *data_end;
	__u32 len;

	if (d->reply_off && bpf_xdp_adjust_head(ctx, (int)d->reply_off)) {
		ka_count(KA_COUNTER_TX_ERROR);
		return XDP_PASS;
	}
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	len = (__u32)(data_end - data);
	if (len > d->reply_len && bpf_xdp_adjust_tail(ctx, -(int)(len - d->reply_len))) {
		/* The outer headers are gone already: nothing left to pass on. */
		ka_count(KA_COUNTER_TX_ERROR);
		return XDP_DROP;
	}
	return XDP_TX;
}

#endif
