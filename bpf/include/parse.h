/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Header parsing helpers in the xdp-tools manner: a cursor walks the linear
 * part of the frame, every parse_* checks its bounds before reading and
 * advances the cursor past what it consumed. Fields on the wire are network
 * order; every value these helpers hand back is host order unless its name
 * ends in _be. Each returns PARSE_OK or the parse_err saying what was short. */
#ifndef VXTAP_PARSE_H
#define VXTAP_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "consts.h"

/* Position in the linear packet data. */
struct cursor {
	void *pos; /* next unread byte */
	void *end; /* ctx->data_end: first byte past the linear data */
};

/* cursor_off: the cursor's offset from the start of the frame. The empty
 * asm hides the relation from the compiler, which would otherwise rebuild
 * packet pointers as data + offset, a sum the verifier cannot bound. */
static __always_inline __u32 cursor_off(const struct cursor *c, void *data)
{
	__u32 off = c->pos - data;

	asm volatile("" : "+r"(off));
	return off;
}

/* What a parse_* helper found wrong. */
enum parse_err {
	PARSE_OK = 0,
	PARSE_SHORT,       /* the header does not fit in the data */
	PARSE_SHORT_VLAN,  /* a VLAN tag is cut short or there are too many */
	PARSE_BAD,         /* a field has an impossible value */
	PARSE_CHAIN_LONG,  /* more IPv6 extension headers than MAX_IPV6_EXT */
	PARSE_SHORT_EXT,   /* an IPv6 extension header is cut short */
};

/* 802.1Q/802.1ad tag as it follows the MAC addresses. */
struct vlan_tag {
	__be16 tci;         /* priority, DEI, VLAN id */
	__be16 inner_proto; /* EtherType of what follows */
};

/* RFC 7348 VXLAN header. */
struct vxlanhdr {
	__u8 flags;     /* 0x08 = I (VNI valid); other bits reserved */
	__u8 rsvd1[3];  /* reserved (GBP group policy id on some senders) */
	__u8 vni[3];    /* VXLAN network identifier, network order */
	__u8 rsvd2;     /* reserved */
};

/* RFC 8926 GENEVE fixed header. */
struct genevehdr {
	__u8 ver_optlen; /* version (2 bits, must be 0) | options length in 4-byte words */
	__u8 flags;      /* O (control) and C (critical options) bits */
	__be16 proto;    /* EtherType of the payload */
	__u8 vni[3];     /* GENEVE VNI (not the mirror VNI: that is VXLAN's) */
	__u8 rsvd;
};

/* The layer-3 facts the data path needs from an IPv4 or IPv6 header. */
struct l3info {
	void *src;      /* source address in the packet, network order (4 or 16 bytes) */
	void *dst;      /* destination address in the packet, network order */
	__u32 len;      /* packet length the header states, header included; 0 = not stated (TSO/jumbo) */
	__u8 family;    /* 4 or 6 */
	__u8 proto;     /* IPv4 protocol / final IPv6 next header */
	__u8 frag;      /* 0 not a fragment, 1 first fragment, 2 later fragment (no L4 header) */
	__u8 pad;
};

/* parse_eth: Ethernet header and up to MAX_VLAN_TAGS VLAN tags.
 * Sets *proto to the EtherType after the tags (host order), *vlans to the tag count. */
static __always_inline int parse_eth(struct cursor *c, __u16 *proto, __u8 *vlans)
{
	struct ethhdr *eth = c->pos;
	__be16 type;

	if ((void *)(eth + 1) > c->end)
		return PARSE_SHORT;
	c->pos = eth + 1;
	/* One 16-bit load: struct ethhdr is packed, so eth->h_proto would be
	 * read a byte at a time. */
	type = *(__be16 *)((void *)eth + __builtin_offsetof(struct ethhdr, h_proto));
	*vlans = 0;

	/* Bounded by MAX_VLAN_TAGS: 802.1ad + 802.1Q is the deepest real stack. */
#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		struct vlan_tag *tag = c->pos;

		if (type != bpf_htons(ETH_P_8021Q) && type != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(tag + 1) > c->end)
			return PARSE_SHORT_VLAN;
		type = tag->inner_proto;
		c->pos = tag + 1;
		(*vlans)++;
	}
	if (type == bpf_htons(ETH_P_8021Q) || type == bpf_htons(ETH_P_8021AD))
		return PARSE_SHORT_VLAN; /* a third tag: more than we follow */
	*proto = bpf_ntohs(type);
	return PARSE_OK;
}

/* parse_ipv4: IPv4 header with options (any IHL from 5 to 15). */
static __always_inline int parse_ipv4(struct cursor *c, struct l3info *l3)
{
	struct iphdr *iph = c->pos;
	__u32 hlen;
	__u16 frag;

	if ((void *)(iph + 1) > c->end)
		return PARSE_SHORT;
	if (iph->version != 4 || iph->ihl < 5)
		return PARSE_BAD;
	hlen = iph->ihl * 4; /* 20..60: IHL is 4 bits */
	if (c->pos + hlen > c->end)
		return PARSE_SHORT;
	l3->len = bpf_ntohs(iph->tot_len);
	if (l3->len && l3->len < hlen)
		return PARSE_BAD;
	frag = bpf_ntohs(iph->frag_off);
	l3->frag = (frag & IP_OFFMASK) ? 2 : ((frag & IP_MF) ? 1 : 0);
	l3->src = &iph->saddr;
	l3->dst = &iph->daddr;
	l3->family = 4;
	l3->proto = iph->protocol;
	c->pos += hlen;
	return PARSE_OK;
}

/* IPv6 extension header numbers we step over. */
static __always_inline int ipv6_is_ext(__u8 nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_FRAGMENT ||
	       nh == IPPROTO_DSTOPTS || nh == IPPROTO_AH || nh == IPPROTO_MH;
}

/* parse_ipv6: fixed header, then up to MAX_IPV6_EXT extension headers, so
 * l3->proto is the upper-layer protocol. */
static __always_inline int parse_ipv6(struct cursor *c, struct l3info *l3)
{
	struct ipv6hdr *ip6h = c->pos;
	__u8 nh;

	if ((void *)(ip6h + 1) > c->end)
		return PARSE_SHORT;
	if (ip6h->version != 6)
		return PARSE_BAD;
	l3->len = bpf_ntohs(ip6h->payload_len);
	if (l3->len)
		l3->len += sizeof(*ip6h);
	l3->src = &ip6h->saddr;
	l3->dst = &ip6h->daddr;
	l3->family = 6;
	l3->frag = 0;
	c->pos = ip6h + 1;
	nh = ip6h->nexthdr;

	/* Bounded by MAX_IPV6_EXT: real packets carry two or three at most. */
#pragma unroll
	for (int i = 0; i < MAX_IPV6_EXT; i++) {
		__u8 *ext = c->pos;
		__u32 elen;

		if (!ipv6_is_ext(nh))
			break;
		if ((void *)(ext + 8) > c->end) /* every extension header is >= 8 bytes */
			return PARSE_SHORT_EXT;
		if (nh == IPPROTO_FRAGMENT) {
			__u16 off = bpf_ntohs(*(__be16 *)(ext + 2));

			l3->frag = (off & 0xFFF8) ? 2 : ((off & 1) ? 1 : 0);
			elen = 8;
		} else if (nh == IPPROTO_AH) {
			elen = ((__u32)ext[1] + 2) * 4;  /* AH: length in 4-byte words minus 2 */
		} else {
			elen = ((__u32)ext[1] + 1) * 8;  /* others: 8-byte words minus 1 */
		}
		if (c->pos + elen > c->end)
			return PARSE_SHORT_EXT;
		nh = ext[0];
		c->pos += elen;
	}
	if (ipv6_is_ext(nh))
		return PARSE_CHAIN_LONG;
	l3->proto = nh;
	return PARSE_OK;
}

/* parse_l3: IPv4 or IPv6 by EtherType; PARSE_BAD for any other EtherType. */
static __always_inline int parse_l3(struct cursor *c, __u16 ethertype, struct l3info *l3)
{
	if (ethertype == ETH_P_IP)
		return parse_ipv4(c, l3);
	if (ethertype == ETH_P_IPV6)
		return parse_ipv6(c, l3);
	return PARSE_BAD;
}

/* parse_udp: UDP header; *dport host order. */
static __always_inline int parse_udp(struct cursor *c, __u16 *sport, __u16 *dport)
{
	struct udphdr *udp = c->pos;

	if ((void *)(udp + 1) > c->end)
		return PARSE_SHORT;
	*sport = bpf_ntohs(udp->source);
	*dport = bpf_ntohs(udp->dest);
	c->pos = udp + 1;
	return PARSE_OK;
}

/* parse_tcp: the 20-byte fixed TCP header (options are not needed). */
static __always_inline int parse_tcp(struct cursor *c, __u16 *sport, __u16 *dport, __u8 *flags)
{
	struct tcphdr *tcp = c->pos;

	if ((void *)(tcp + 1) > c->end)
		return PARSE_SHORT;
	*sport = bpf_ntohs(tcp->source);
	*dport = bpf_ntohs(tcp->dest);
	*flags = ((__u8 *)tcp)[13]; /* CWR ECE URG ACK PSH RST SYN FIN */
	c->pos = tcp + 1;
	return PARSE_OK;
}

/* parse_ports: the first 4 bytes of a TCP or UDP header (both start with
 * the source and destination ports), for a header the copy cut short. */
static __always_inline int parse_ports(struct cursor *c, __u16 *sport, __u16 *dport)
{
	__be16 *ports = c->pos;

	if ((void *)(ports + 2) > c->end)
		return PARSE_SHORT;
	*sport = bpf_ntohs(ports[0]);
	*dport = bpf_ntohs(ports[1]);
	return PARSE_OK;
}

/* parse_tcp_flags: byte 13 of a TCP header cut short, if it is there. */
static __always_inline int parse_tcp_flags(struct cursor *c, __u8 *flags)
{
	__u8 *b = c->pos;

	if ((void *)(b + 14) > c->end)
		return PARSE_SHORT;
	*flags = b[13];
	return PARSE_OK;
}

/* parse_vxlan: RFC 7348 header. *vni host order; *nonstd set when any bit
 * other than I is set (tolerated: GBP and GPE senders set them). */
static __always_inline int parse_vxlan(struct cursor *c, __u32 *vni, __u8 *nonstd)
{
	struct vxlanhdr *vx = c->pos;
	__u32 w0, w1;

	if ((void *)(vx + 1) > c->end)
		return PARSE_SHORT;
	if (!(vx->flags & VXLAN_FLAG_I))
		return PARSE_BAD;
	/* The header as two 32-bit words, network order: flags and rsvd1,
	 * then the VNI and rsvd2 (two loads, not eight). */
	w0 = bpf_ntohl(*(__be32 *)vx);
	w1 = bpf_ntohl(*(__be32 *)((void *)vx + 4));
	*vni = w1 >> 8;
	*nonstd = (w0 & ~((__u32)VXLAN_FLAG_I << 24)) || (w1 & 0xff);
	c->pos = vx + 1;
	return PARSE_OK;
}

/* parse_geneve: fixed header and its options; *proto is the payload
 * EtherType, host order. */
static __always_inline int parse_geneve(struct cursor *c, __u16 *proto)
{
	struct genevehdr *gh = c->pos;
	__u32 optlen;

	if ((void *)(gh + 1) > c->end)
		return PARSE_SHORT;
	if (gh->ver_optlen >> 6)
		return PARSE_BAD; /* only version 0 exists */
	optlen = (gh->ver_optlen & 0x3F) * 4; /* 0..252 bytes */
	if ((void *)(gh + 1) + optlen > c->end)
		return PARSE_SHORT;
	*proto = bpf_ntohs(gh->proto);
	c->pos = (void *)(gh + 1) + optlen;
	return PARSE_OK;
}

#endif /* VXTAP_PARSE_H */
