// SPDX-License-Identifier: GPL-2.0-only
/* Returns XDP_PASS and nothing else: the baseline the benchmarks compare against. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/*
 * The keepalive programs' maps, unused here: the test runner reads counters
 * from every object the same way, so the baseline is timed by the same
 * method (maps a program never touches cost it nothing).
 */
#include "gre_keepalive_maps.h"

SEC("prog")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
