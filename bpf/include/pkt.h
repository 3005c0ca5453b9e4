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
	_Static_assert(__builtin_offsetof(struct pkt, outer_src) % 8 == 0, "outer_src in whole words (copy_addr)");
	_Static_assert(__builtin_offsetof(struct pkt, wire_len) % 8 == 0, "zeroed part in whole words");
	__builtin_memset(p, 0, __builtin_offsetof(struct pkt, wire_len));
}

/* pkt_flag: mark a flag to be counted when the packet is done. */
static __always_inline void pkt_flag(struct pkt *p, enum vxtap_flag f)
{
	p->flags |= 1U << f;
}

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "pkt_key_set builds struct flow_key's words little-endian (bpfel)"
#endif

/* key_word: the 64-bit word whose first 4 bytes in memory are lo's and
 * next 4 are hi's (little-endian). */
#define key_word(lo, hi) ((__u64)(__u32)(lo) | (__u64)(__u32)(hi) << 32)

/* pkt_key_set: the flow key after p->key.vni, written as whole 64-bit
 * words (IPv4 leaves the words that would hold only address bytes as
 * pkt_init zeroed them). The hashes and flow_key_eq read the key a word at
 * a time right after the parse; a word made of narrower stores (family,
 * proto, ports, 4-byte address pieces) cannot be forwarded from the store
 * buffer, so each such load waited for those stores to reach the cache:
 * a fifth of an existing flow's time, sampled. src and dst point at the
 * addresses as they lie in the frame (4 or 16 bytes, by family). */
static __always_inline void pkt_key_set(struct pkt *p, __u8 family, __u8 proto, __u16 sport, __u16 dport,
					const void *src, const void *dst)
{
	const __u32 *s = src, *d = dst;
	__u64 *w = (__u64 *)&p->key;

	_Static_assert(__builtin_offsetof(struct flow_key, family) == 4 && __builtin_offsetof(struct flow_key, sport) == 6 &&
			       __builtin_offsetof(struct flow_key, dport) == 8 && __builtin_offsetof(struct flow_key, src) == 12 &&
			       __builtin_offsetof(struct flow_key, dst) == 28,
		       "flow_key's words as pkt_key_set builds them");
	w[0] = key_word(p->key.vni, family | proto << 8 | (__u32)sport << 16);
	w[1] = key_word(dport, s[0]); /* pad 0, then src[0..3] */
	if (family == 4) {
		w[3] = key_word(0, d[0]); /* src[12..15] 0, then dst[0..3] */
		return;
	}
	w[2] = key_word(s[1], s[2]);
	w[3] = key_word(s[3], d[0]);
	w[4] = key_word(d[1], d[2]);
	((__u32 *)w)[10] = d[3];
}

#endif /* VXTAP_PKT_H */
