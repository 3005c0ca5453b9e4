/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Header parsing shared by the live benchmark's reading receivers (touch,
 * flow-floor, flow-map): a cursor over the linear packet data and one
 * parse_* per header, each checking its own bounds. Values stay in network
 * order unless a comment says otherwise. */
#ifndef VXTAP_LIVE_PARSE_H
#define VXTAP_LIVE_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define VXLAN_PORT 4789 /* outer UDP destination port of VXLAN */
#define VXLAN_LEN     8 /* VXLAN header bytes */
#define VXLAN_FLAG_I  0x08 /* VNI-valid flag */

/* Position in the linear packet data. */
struct cursor {
	void *pos; /* next unread byte */
	void *end; /* ctx->data_end */
};

/* parse_eth: an Ethernet header; *proto is its EtherType (network order). */
static __always_inline int parse_eth(struct cursor *c, __be16 *proto)
{
	struct ethhdr *eth = c->pos;

	if ((void *)(eth + 1) > c->end)
		return -1;
	*proto = eth->h_proto;
	c->pos = eth + 1;
	return 0;
}

/* parse_ports: the source and destination ports of TCP or UDP (both begin
 * with them), network order. */
static __always_inline int parse_ports(struct cursor *c, __u8 l4, __be16 *sport, __be16 *dport)
{
	__be16 *ports = c->pos;

	if (l4 != IPPROTO_TCP && l4 != IPPROTO_UDP)
		return -1;
	if ((void *)(ports + 2) > c->end)
		return -1;
	*sport = ports[0];
	*dport = ports[1];
	return 0;
}

/* parse_vxlan: the outer UDP header to port 4789 and the VXLAN header;
 * *vni is the header's second word (network order: the VNI in its first
 * three bytes). */
static __always_inline int parse_vxlan(struct cursor *c, __be32 *vni)
{
	struct udphdr *udp = c->pos;
	__u8 *vx;

	if ((void *)(udp + 1) > c->end || udp->dest != bpf_htons(VXLAN_PORT))
		return -1;
	vx = (void *)(udp + 1);
	if ((void *)(vx + VXLAN_LEN) > c->end || !(vx[0] & VXLAN_FLAG_I))
		return -1;
	*vni = *(__be32 *)(vx + 4);
	c->pos = vx + VXLAN_LEN;
	return 0;
}

#endif
