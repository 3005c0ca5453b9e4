/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What the live benchmark's per-flow reference receivers (flow-floor,
 * flow-map) share: the flow key as vxtap keys a flow (VNI and inner
 * 5-tuple, 44 bytes), the counts they keep, and the parse that fills the
 * key: touch's headers, with the inner addresses and the inner IP length
 * kept instead of folded. */
#ifndef VXTAP_LIVE_FLOW_H
#define VXTAP_LIVE_FLOW_H

#include "live_parse.h"

/* A flow: the same fields and size as vxtap's struct flow_key. */
struct live_flow_key {
	__be32 vni;     /* the VXLAN header's second word (VNI and reserved byte) */
	__u8 family;    /* 4 or 6 */
	__u8 proto;     /* inner IP protocol */
	__be16 sport;   /* inner TCP/UDP source port */
	__be16 dport;   /* inner TCP/UDP destination port */
	__u16 pad;      /* zero */
	__be32 src[4];  /* inner source address, IPv4 in src[0] */
	__be32 dst[4];  /* inner destination address, IPv4 in dst[0] */
};

/* A flow's counts. */
struct live_flow_counts {
	__u64 packets; /* copies of the flow */
	__u64 bytes;   /* their inner IP lengths, as the inner header states them */
};

/* What a per-flow reference receiver saw besides its flows: one per-CPU
 * struct. */
struct live_flow_stats {
	__u64 other; /* frames that were not a well-formed VXLAN copy */
	__u64 apart; /* copies counted here, not in their flow (flow-floor: the line held another flow; flow-map: the map was full) */
};

/* parse_ip_key: an IPv4 (options skipped) or IPv6 header (no extension
 * headers, as touch); fills the key's family, protocol and addresses, and
 * *len with the packet's IP length (host order). */
static __always_inline int parse_ip_key(struct cursor *c, __be16 proto, struct live_flow_key *k, __u32 *len)
{
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = c->pos;
		__u32 hlen;

		if ((void *)(ip + 1) > c->end)
			return -1;
		hlen = ip->ihl * 4;
		if (hlen < sizeof(*ip) || c->pos + hlen > c->end)
			return -1;
		k->family = 4;
		k->proto = ip->protocol;
		k->src[0] = ip->saddr;
		k->dst[0] = ip->daddr;
		*len = bpf_ntohs(ip->tot_len);
		c->pos += hlen;
		return 0;
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = c->pos;

		if ((void *)(ip6 + 1) > c->end)
			return -1;
		k->family = 6;
		k->proto = ip6->nexthdr;
		__builtin_memcpy(k->src, &ip6->saddr, sizeof(k->src));
		__builtin_memcpy(k->dst, &ip6->daddr, sizeof(k->dst));
		*len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
		c->pos = ip6 + 1;
		return 0;
	}
	return -1;
}

/* parse_flow: 0 with *k (zeroed first) and *len filled when the frame is a
 * VXLAN copy parsed to the inner ports, -1 otherwise. */
static __always_inline int parse_flow(struct xdp_md *ctx, struct live_flow_key *k, __u32 *len)
{
	struct cursor c = {
		.pos = (void *)(long)ctx->data,
		.end = (void *)(long)ctx->data_end,
	};
	struct live_flow_key outer = {};
	__be16 proto;
	__u32 outer_len;

	__builtin_memset(k, 0, sizeof(*k));
	if (parse_eth(&c, &proto) || parse_ip_key(&c, proto, &outer, &outer_len) || outer.proto != IPPROTO_UDP)
		return -1;
	if (parse_vxlan(&c, &k->vni) || parse_eth(&c, &proto) || parse_ip_key(&c, proto, k, len))
		return -1;
	return parse_ports(&c, k->proto, &k->sport, &k->dport);
}

#endif
