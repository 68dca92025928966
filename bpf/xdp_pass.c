// SPDX-License-Identifier: GPL-2.0-only
/* Returns XDP_PASS and nothing else: the baseline the benchmarks compare against. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("prog")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
