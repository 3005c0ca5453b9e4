// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The live benchmark's traffic generator. Userspace runs it with
 * BPF_PROG_RUN and BPF_F_TEST_XDP_LIVE_FRAMES on the generator side of a
 * veth pair: every repetition gets a copy of the template frame, this
 * program makes it one frame of one flow, and XDP_TX sends it out of the
 * veth to the receiver under test.
 *
 * Live-frame mode recycles pages without rewriting them, so a frame may
 * hold the template or what an earlier repetition wrote: every varying
 * field (and both IPv4 checksums) is written on every run, never patched
 * incrementally. Frame i belongs to flow i % cfg_flows, except one frame
 * in cfg_new_every, which opens a flow never seen before. As AWS does,
 * the outer UDP source port is a hash of the inner flow (RSS spreads the
 * copies by it) and each VNI comes from its own mirror source address.
 *
 * Paced (cfg_gap_ns), a repetition that comes before the next frame is due
 * drops its page and sends nothing: the rate is held frame by frame, not
 * in bursts, and a gap (the syscall between two runs) restarts the schedule
 * instead of being made up for with a burst. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "live.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

volatile const __u32 cfg_flows = 100;     /* flows the frames cycle through (>= 1) */
volatile const __u32 cfg_new_every = 0;   /* 1 in N frames opens a new flow, 0 = none */
volatile const __u32 cfg_vnis = 1;        /* VNIs used, cfg_vni_base upwards (>= 1) */
volatile const __u32 cfg_vni_base = 100;  /* first VNI */
volatile const __u64 cfg_gap_ns = 0;      /* pacing: ns between frames sent, 0 = full rate */

#define PACE_SLACK_NS 10000000 /* behind schedule by more (10 ms): restart it, no longer burst */

/* When the next paced frame is due (one generator thread at a time). */
static __u64 next_due_ns;

/* Frames handed to XDP_TX, also the index of the next frame: one slot. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} gen_sent SEC(".maps");

/* ip_csum: the checksum of an IPv4 header without options whose checksum
 * field is zero. */
static __always_inline __u16 ip_csum(const __u16 *hdr)
{
	__u32 sum = 0;

	/* Bounded: an IPv4 header without options is 10 words. */
	for (int i = 0; i < IPV4_HDR_WORDS; i++)
		sum += hdr[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

/* gen_frame: make the frame the next one of its flow. Returns XDP_TX to
 * send it, XDP_DROP when pacing holds it back, XDP_ABORTED on a template
 * too short. */
static __always_inline int gen_frame(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	__u64 *sent, i, flow;
	__u32 vni_idx, vni, hash;
	__u8 *p = data;

	if (data + GEN_MIN_LEN > data_end)
		return XDP_ABORTED; /* userspace never sends a shorter template */
	if (cfg_gap_ns) {
		__u64 now = bpf_ktime_get_ns();

		if (now < next_due_ns)
			return XDP_DROP; /* ahead of schedule */
		if (now - next_due_ns > PACE_SLACK_NS)
			next_due_ns = now;
		next_due_ns += cfg_gap_ns;
	}
	sent = bpf_map_lookup_elem(&gen_sent, &zero);
	if (!sent)
		return XDP_ABORTED;
	i = *sent;

	if (cfg_new_every && i % cfg_new_every == 0)
		flow = cfg_flows + i / cfg_new_every;
	else
		flow = i % cfg_flows;
	vni_idx = flow % cfg_vnis;
	vni = cfg_vni_base + vni_idx;
	hash = (__u32)flow * 2654435761u; /* Fibonacci hashing spreads the ports */

	/* Outer: the mirror source of this VNI, and the flow's source port. */
	p[OFF_OUTER_IP + 15] = 11 + vni_idx % 200; /* 198.18.0.(11..210) */
	*(__u16 *)(p + OFF_OUTER_IP + 10) = 0;
	*(__u16 *)(p + OFF_OUTER_IP + 10) = ip_csum((__u16 *)(p + OFF_OUTER_IP));
	*(__be16 *)(p + OFF_OUTER_UDP) = bpf_htons(49152 + (hash >> 18));
	p[OFF_VXLAN + 4] = vni >> 16;
	p[OFF_VXLAN + 5] = vni >> 8;
	p[OFF_VXLAN + 6] = vni;

	/* Inner: source 198.19.(flow >> 8).(flow) and a port from the rest. */
	p[OFF_INNER_IP + 14] = flow >> 8;
	p[OFF_INNER_IP + 15] = flow;
	*(__u16 *)(p + OFF_INNER_IP + 10) = 0;
	*(__u16 *)(p + OFF_INNER_IP + 10) = ip_csum((__u16 *)(p + OFF_INNER_IP));
	*(__be16 *)(p + OFF_INNER_L4) = bpf_htons(1024 + (flow >> 16) % 60000);

	*sent = i + 1;
	return XDP_TX;
}

SEC("xdp")
int live_gen(struct xdp_md *ctx)
{
	return gen_frame(ctx);
}

/* The program live_gen_chain hands each frame to: vxtap's, or
 * live_chain_end for the harness's own cost. One slot. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} gen_chain SEC(".maps");

/* live_gen_chain: in-kernel benchmarks of traffic that varies per frame
 * (a new-flow flood): BPF_PROG_TEST_RUN repeats one frame, so this makes
 * it the generator's next frame, then tail-calls the receiver under test
 * on it, all inside one repeated run (warm caches, no system call per
 * frame, as a flood arrives). Multi-buffer capable (xdp.frags), as
 * vxtap's program: a program array holds programs of one kind only. */
SEC("xdp.frags")
int live_gen_chain(struct xdp_md *ctx)
{
	int verdict = gen_frame(ctx);

	if (verdict != XDP_TX)
		return verdict;
	bpf_tail_call(ctx, &gen_chain, 0);
	return XDP_ABORTED; /* no program in gen_chain */
}

/* live_chain_end: the harness's receiver for live_gen_chain: drops the
 * frame, so a chain into it costs what the generator and the tail call
 * add to the receiver's own time. */
SEC("xdp.frags")
int live_chain_end(struct xdp_md *ctx)
{
	return XDP_DROP;
}
