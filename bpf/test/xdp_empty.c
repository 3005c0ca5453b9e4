// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The empty XDP program: the baseline of BenchmarkXDP/empty, so the cost of
 * vxtap's program reads against the cost of BPF_PROG_TEST_RUN itself. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp.frags")
int empty_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}
