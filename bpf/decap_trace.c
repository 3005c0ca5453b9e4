// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Companions of the decapsulated feed (--decap-to), loaded only when it is
 * on. decap_peer_pass: a veth delivers XDP-redirected frames only when its
 * peer runs an XDP program (or NAPI), so the far end of a veth vxtap
 * creates gets this one, which passes everything. decap_redirect_err and
 * decap_xmit: a redirect can still fail after the XDP program returned
 * (target down, refusing the frame, too big); the kernel reports those
 * only to tracepoints, and these count them into vxtap's own counters
 * under FLAG_DECAP_FAILED. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "include/maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Map id of the main program's decap_ports, set by the loader before load. */
volatile const __u32 cfg_decap_map_id = 0;

/* Decap target ifindexes (value unused), written by loader/redirect.go. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DECAP_MAX_TARGETS);
	__type(key, __u32);
	__type(value, __u8);
} decap_ifaces SEC(".maps");

/* Only the field read here; CO-RE finds its offset in the kernel's BTF. */
struct net_device {
	int ifindex;
} __attribute__((preserve_access_index));

/* count_failed: n frames lost by the decap feed (bytes unknown here: 0). */
static __always_inline void count_failed(__u64 n)
{
	__u32 idx = REASON__MAX + FLAG_DECAP_FAILED;
	struct counter *c = bpf_map_lookup_elem(&counters, &idx);

	if (c)
		c->packets += n;
}

SEC("xdp.frags")
int decap_peer_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* xdp_redirect_err(dev, xdp, tgt, err, map_type, map_id, index): a redirect
 * through decap_ports refused when the program returned. */
SEC("raw_tp/xdp_redirect_err")
int decap_redirect_err(struct bpf_raw_tracepoint_args *ctx)
{
	if ((__u32)ctx->args[5] == cfg_decap_map_id)
		count_failed(1);
	return 0;
}

/* xdp_devmap_xmit(from_dev, to_dev, sent, drops, err): a bulk of redirected
 * frames handed to a target; drops of them it did not take. */
SEC("raw_tp/xdp_devmap_xmit")
int decap_xmit(struct bpf_raw_tracepoint_args *ctx)
{
	struct net_device *to = (void *)ctx->args[1];
	int drops = (int)ctx->args[3];
	int ifindex = 0;

	if (drops <= 0)
		return 0;
	if (bpf_core_read(&ifindex, sizeof(ifindex), &to->ifindex))
		return 0;
	if (bpf_map_lookup_elem(&decap_ifaces, &ifindex))
		count_failed(drops);
	return 0;
}
