/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What the data path learns about one packet as it walks the headers. */
#ifndef VXTAP_PKT_H
#define VXTAP_PKT_H

#include <linux/types.h>
#include "vxtap_shared.h"

/* The fields up to wire_len are zeroed for every packet (pkt_init): some
 * path reads each before (or without) writing it, and IPv4 fills only 4 of
 * an address's 16 bytes. The fields from wire_len on are written before
 * they are read on every path, so they are left as the stack had them. */
struct pkt {
	/* Zeroed by pkt_init. */
	struct flow_key key;  /* the inner one-way flow (hashed whole: pad and unused address bytes 0) */
	__u32 flags;          /* bitmask of enum vxtap_flag to count */
	__u8 outer_src[16];   /* mirror source address (outer source of the VXLAN packet) */
	__u32 sample_rule;    /* filter rule asking for a sample of this packet, 0 = none */
	__u32 snap_len;       /* sample bytes for this packet's filter session, 0 = cfg_snap_len */
	__u32 rule;           /* RuleNumber of the filter rule that accepted the packet, 0 = none */
	__u32 slot;           /* flow_slots index + 1 of the flow account() added the packet to, 0 = none */
	__u8 outer_family;    /* 4 or 6 */
	__u8 tcp_flags;       /* flags byte of an inner TCP header, else 0 */
	__u8 mirror;          /* 1 once the frame is known to be mirror traffic */
	__u8 dir;             /* enum flow_dir the classifier found, FLOW_DIR_UNSET if it did not look */
	__u8 has_sess;        /* 1: the VNI has a filter session, found under gen (else no rule set is applied) */
	__u8 truncated;       /* 1: the copy holds less than its inner IP header states */
	__u8 no_forward;      /* 1: the accepting filter rule keeps the copy out of the decap feed */
	__u8 redirect;        /* 1: decap armed a redirect: the verdict is XDP_REDIRECT */
	/* Not zeroed: each is written before any read of it. */
	__u64 wire_len;       /* whole frame, fragments of a multi-buffer frame included: set first */
	__u32 vxlan_off;      /* offset of the VXLAN header from ctx->data: set where parse_outer succeeds */
	__u32 inner_off;      /* offset of the inner Ethernet header from ctx->data: set before the inner parse */
	__u32 ip_off;         /* offset of the inner IP header from ctx->data: set before the inner IP parse */
	__u32 ip_len;         /* inner IP length as its header states it: set by a successful inner parse */
	__u32 sample_rate;    /* 1-in-N sampling for this packet's session, 0 = off: set by finish first */
	__u32 gen;            /* the filter_gen value the session was found under (generation in bit 0, FILTER_GEN_VNI, applies): read only when has_sess */
	__u64 verdict;        /* flow_slot.verdict of the classifier's decision for this packet, 0 = not classified: set by finish first */
	__u32 sess_sample_rate; /* the VNI's filter session's sample_rate, set by the VNI gate: read only when has_sess */
	__u32 sess_snap_len;    /* and its snap_len */
};

/* pkt_init: zero the fields before wire_len (11 8-byte stores; the whole
 * struct would take more, for fields every path writes before reading). */
static __always_inline void pkt_init(struct pkt *p)
{
	_Static_assert(__builtin_offsetof(struct pkt, wire_len) % 8 == 0, "zeroed part in whole words");
	__builtin_memset(p, 0, __builtin_offsetof(struct pkt, wire_len));
}

/* pkt_flag: mark a flag to be counted when the packet is done. */
static __always_inline void pkt_flag(struct pkt *p, enum vxtap_flag f)
{
	p->flags |= 1U << f;
}

#endif /* VXTAP_PKT_H */
