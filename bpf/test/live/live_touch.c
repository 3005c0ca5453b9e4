// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The live benchmark's floor: what any analyzer that reads a mirrored
 * packet pays. It parses the outer Ethernet, IPv4/IPv6 and UDP headers,
 * VXLAN, and the inner Ethernet, IPv4/IPv6 and TCP/UDP headers up to the
 * ports, folds the inner addresses and ports into one per-CPU counter
 * (so no load is optimised away), and drops the frame. Nothing more: no
 * flow table, no clock, no filter. */
#include "live_parse.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* What the touch program saw: one per-CPU struct, one update per frame. */
struct touch_count {
	__u64 packets; /* frames parsed to the inner ports */
	__u64 other;   /* frames that were not a well-formed VXLAN copy */
	__u64 mix;     /* inner addresses and ports folded together */
};

/* The counter: one slot. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct touch_count);
} touch_counts SEC(".maps");

/* parse_ip: an IPv4 (options skipped) or IPv6 header (no extension
 * headers: the floor reads the common case); *l4 is the next protocol and
 * *mix folds in the addresses. */
static __always_inline int parse_ip(struct cursor *c, __be16 proto, __u8 *l4, __u64 *mix)
{
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = c->pos;
		__u32 hlen;

		if ((void *)(ip + 1) > c->end)
			return -1;
		hlen = ip->ihl * 4;
		if (hlen < sizeof(*ip) || c->pos + hlen > c->end)
			return -1;
		*l4 = ip->protocol;
		*mix ^= ((__u64)ip->saddr << 32) | ip->daddr;
		c->pos += hlen;
		return 0;
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = c->pos;

		if ((void *)(ip6 + 1) > c->end)
			return -1;
		*l4 = ip6->nexthdr;
		*mix ^= ((__u64)ip6->saddr.in6_u.u6_addr32[3] << 32) | ip6->daddr.in6_u.u6_addr32[3];
		c->pos = ip6 + 1;
		return 0;
	}
	return -1;
}

/* touch: 0 with *mix set when the frame is a VXLAN copy parsed to the
 * inner ports, -1 otherwise. */
static __always_inline int touch(struct cursor *c, __u64 *mix)
{
	__be16 proto, sport, dport;
	__be32 vni;
	__u8 l4;

	if (parse_eth(c, &proto) || parse_ip(c, proto, &l4, mix) || l4 != IPPROTO_UDP)
		return -1;
	if (parse_vxlan(c, &vni) || parse_eth(c, &proto) || parse_ip(c, proto, &l4, mix))
		return -1;
	if (parse_ports(c, l4, &sport, &dport))
		return -1;
	*mix ^= ((__u64)sport << 16) | dport;
	return 0;
}

SEC("xdp")
int live_touch(struct xdp_md *ctx)
{
	struct cursor c = {
		.pos = (void *)(long)ctx->data,
		.end = (void *)(long)ctx->data_end,
	};
	struct touch_count *cnt;
	__u32 zero = 0;
	__u64 mix = 0;

	cnt = bpf_map_lookup_elem(&touch_counts, &zero);
	if (!cnt)
		return XDP_DROP;
	if (touch(&c, &mix) == 0) {
		cnt->packets++;
		cnt->mix += mix;
	} else {
		cnt->other++;
	}
	return XDP_DROP;
}
