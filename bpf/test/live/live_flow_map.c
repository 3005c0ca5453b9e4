// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The live benchmark's flow-map receiver: touch's parse, then the inner
 * flow counted exactly in the kernel's own per-CPU hash map, as the usual
 * eBPF flow meter does (a lookup, and an insert on a flow's first copy).
 * Not vxtap: no flow records, no clock, no filter, no eviction; it shows
 * what the textbook design pays per packet beside vxtap's flow table.
 * Multi-buffer aware (xdp.frags) as vxtap's program is, so the flood
 * benchmark's chain can tail-call it. */
#include "live_flow.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Flows, per CPU: a copy adds to its CPU's counts without atomics. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct live_flow_key);
	__type(value, struct live_flow_counts);
} flow_map SEC(".maps");

/* Frames that made no flow (struct live_flow_stats): one slot. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct live_flow_stats);
} flow_map_stats SEC(".maps");

SEC("xdp.frags")
int live_flow_map(struct xdp_md *ctx)
{
	struct live_flow_counts *v, first;
	struct live_flow_stats *st;
	struct live_flow_key k;
	__u32 zero = 0, len = 0;

	st = bpf_map_lookup_elem(&flow_map_stats, &zero);
	if (!st)
		return XDP_DROP;
	if (parse_flow(ctx, &k, &len)) {
		st->other++;
		return XDP_DROP;
	}
	v = bpf_map_lookup_elem(&flow_map, &k);
	if (v) {
		v->packets++;
		v->bytes += len;
		return XDP_DROP;
	}
	/* A flow's first copy: this CPU's counts hold it, the others' are
	 * zeroed by the insert. EEXIST: another CPU inserted it meanwhile. */
	first.packets = 1;
	first.bytes = len;
	if (bpf_map_update_elem(&flow_map, &k, &first, BPF_NOEXIST) == 0)
		return XDP_DROP;
	v = bpf_map_lookup_elem(&flow_map, &k);
	if (v) {
		v->packets++;
		v->bytes += len;
	} else {
		st->apart++; /* the map is full */
	}
	return XDP_DROP;
}
