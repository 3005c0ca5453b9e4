// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The live benchmark's ceiling: drops every frame without reading it, so
 * its rate is what the receiving veth and XDP cost with no analysis. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int live_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}
