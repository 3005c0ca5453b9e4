// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* vxtap XDP entry: recognise VPC Traffic Mirroring copies (VXLAN, or VXLAN
 * inside GENEVE from a Gateway Load Balancer), strip the encapsulation,
 * classify and account the inner packet, and drop the copy. Everything else
 * (SSH, health checks, ...) passes untouched. Every packet is counted under
 * exactly one terminal reason (enum vxtap_reason). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "include/consts.h"
#include "include/config.h"
#include "include/maps.h"
#include "include/parse.h"
#include "include/pkt.h"
#include "include/account.h"
#include "include/classify.h"
#include "include/trust.h"
#include "include/detect.h"
#include "include/redirect.h"
#include "include/capture.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The kernel's struct xdp_buff (include/net/xdp.h), only the field read
 * here: CO-RE relocates its offset against the running kernel's BTF (it
 * sits in an anonymous union there; the match looks through it). */
struct xdp_buff___vxtap {
	__u32 flags; /* enum xdp_buff_flags */
} __attribute__((preserve_access_index));

/* XDP_FLAGS_HAS_FRAGS of enum xdp_buff_flags (BIT(0) since 5.18): the frame
 * has fragments past its linear part. */
#define XDP_BUFF_HAS_FRAGS 1U

/* The XDP context as the kernel's struct xdp_buff. A kfunc the verifier
 * replaces by a register move (no call); weak, so the program still loads
 * where the kernel lacks it (6.2+) and then asks the helper every time. */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak;

/* ksym_exists: a __weak kfunc was found in the kernel. Its address loads as
 * a constant the verifier folds, so the untaken branch costs nothing. */
#define ksym_exists(sym) ({                                                        \
	_Static_assert(!__builtin_constant_p(!!(sym)), #sym " must be __weak");    \
	!!(sym);                                                                   \
})

/* frame_len: the whole frame's length, fragments of a multi-buffer frame
 * included. bpf_xdp_get_buff_len is a helper call (and RET, dear under
 * SRSO/retbleed mitigations) on every packet; a linear frame's length is
 * data_end - data, so the helper is only asked for a frame the kernel
 * flags as having fragments (a field load through the kernel context). */
static __always_inline __u64 frame_len(struct xdp_md *ctx)
{
	if (ksym_exists(bpf_cast_to_kern_ctx)) {
		struct xdp_buff___vxtap *xdp = bpf_cast_to_kern_ctx(ctx);

		if (!(xdp->flags & XDP_BUFF_HAS_FRAGS))
			return (__u64)((long)ctx->data_end - (long)ctx->data);
	}
	return bpf_xdp_get_buff_len(ctx);
}

/* copy_addr: an IPv4 or IPv6 address into a 16-byte slot of struct pkt
 * (IPv4 in the first 4, the rest left as pkt_init zeroed it), as whole
 * 64-bit words: the slot is copied and compared a word at a time later (a
 * new flow's slot and record), and a load over narrower stores waits for
 * them to reach the cache (pkt_key_set). dst is 8-byte aligned; src may not
 * be, which the verifier allows for packet data on x86-64 and arm64
 * (efficient unaligned access). */
static __always_inline void copy_addr(__u8 *dst, const void *src, __u8 family)
{
	const __u32 *s = src;
	__u64 *d = (__u64 *)dst;

	if (family == 4) {
		d[0] = s[0];
		return;
	}
	d[0] = key_word(s[0], s[1]);
	d[1] = key_word(s[2], s[3]);
}

/* outer_l3_reason: terminal reason for a failed outer IP parse. */
static __always_inline int outer_l3_reason(int err)
{
	if (err == PARSE_CHAIN_LONG)
		return REASON_IPV6_CHAIN_TOO_LONG;
	if (err == PARSE_SHORT_EXT)
		return REASON_SHORT_IPV6_EXT;
	return REASON_SHORT_OUTER_IP;
}

/* geneve_to_vxlan: inside GENEVE (at p->vxlan_off), the IP/UDP/VXLAN packet
 * the mirror source sent. Returns a terminal reason, or -1 with
 * p->vxlan_off moved to the VXLAN header and the mirror source in p.
 * Inlined: one call and RET less per copy behind a Gateway Load Balancer;
 * it adds little to verification since the inner IPv6 parse went global. */
static __always_inline int geneve_to_vxlan(struct xdp_md *ctx, struct pkt *p)
{
	void *data = (void *)(long)ctx->data;
	struct cursor cur = { .end = (void *)(long)ctx->data_end };
	struct cursor *c = &cur;
	struct l3info l3 = {};
	__u16 proto, sport, dport;
	__u32 off;
	__u8 vlans;

	off = p->vxlan_off;
	if (off > MAX_OUTER_LEN) /* keeps data + off a bounded packet pointer */
		return REASON_BAD_GENEVE;
	c->pos = data + off;
	if (parse_geneve(c, &proto))
		return REASON_BAD_GENEVE;
	if (proto == ETH_P_TEB) {
		if (parse_eth(c, &proto, &vlans))
			return REASON_BAD_GENEVE;
	}
	if (proto != ETH_P_IP && proto != ETH_P_IPV6) {
		p->mirror = 0; /* someone else's GENEVE: not ours to drop */
		return REASON_GENEVE_NOT_VXLAN;
	}
	if (parse_l3(c, proto, &l3))
		return REASON_BAD_GENEVE;
	if (l3.proto != IPPROTO_UDP || l3.frag) {
		p->mirror = 0;
		return REASON_GENEVE_NOT_VXLAN;
	}
	if (parse_udp(c, &sport, &dport))
		return REASON_BAD_GENEVE;
	if (dport != cfg_vxlan_port) {
		p->mirror = 0;
		return REASON_GENEVE_NOT_VXLAN;
	}
	p->outer_family = l3.family;
	copy_addr(p->outer_src, l3.src, l3.family);
	pkt_flag(p, FLAG_GENEVE);
	/* The mirror source inside must be trusted too, not only the load
	 * balancer that carried it. */
	if (cfg_source_check && !source_allowed(l3.family, l3.src))
		return REASON_UNKNOWN_SOURCE;
	p->vxlan_off = cursor_off(c, data);
	return -1;
}

/* parse_outer's answer when a GENEVE header sits at p->vxlan_off. */
#define PARSE_GENEVE_NEXT -2

/* parse_outer: outer Ethernet/IP/UDP up to the VXLAN header. Returns a
 * terminal reason, -1 with p->vxlan_off on the VXLAN header, or
 * PARSE_GENEVE_NEXT. Inlined: a BPF-to-BPF call (and its RET, dear under
 * SRSO/retpoline mitigations) on every packet cost more than its few paths
 * add to verification. */
static __always_inline int parse_outer(struct xdp_md *ctx, struct pkt *p)
{
	void *data = (void *)(long)ctx->data;
	struct cursor cur = { .pos = data, .end = (void *)(long)ctx->data_end };
	struct cursor *c = &cur;
	struct l3info l3 = {};
	__u16 proto, sport, dport;
	__u8 vlans;
	int err;

	err = parse_eth(c, &proto, &vlans);
	if (err)
		return err == PARSE_SHORT ? REASON_SHORT_OUTER_ETH : REASON_SHORT_OUTER_VLAN;
	if (proto != ETH_P_IP && proto != ETH_P_IPV6)
		return REASON_NOT_MIRROR;
	err = parse_l3(c, proto, &l3);
	if (err)
		return outer_l3_reason(err);
	if (l3.proto != IPPROTO_UDP)
		return REASON_NOT_MIRROR;
	if (l3.frag)
		return REASON_OUTER_FRAGMENT;
	if (parse_udp(c, &sport, &dport))
		return REASON_SHORT_OUTER_UDP;

	if (dport != cfg_vxlan_port && !(cfg_geneve_port && dport == cfg_geneve_port))
		return REASON_NOT_MIRROR;

	p->mirror = 1;
	if (vlans)
		pkt_flag(p, FLAG_OUTER_VLAN);
	/* Trust before anything else is read: a copy from outside
	 * allowed_sources is dropped unread (its source noted). */
	if (cfg_source_check && !source_allowed(l3.family, l3.src)) {
		p->outer_family = l3.family;
		copy_addr(p->outer_src, l3.src, l3.family);
		return REASON_UNKNOWN_SOURCE;
	}
	p->vxlan_off = cursor_off(c, data);
	if (dport != cfg_vxlan_port)
		return PARSE_GENEVE_NEXT;
	p->outer_family = l3.family;
	copy_addr(p->outer_src, l3.src, l3.family);
	return -1;
}

/* parse_inner_ip: the inner IP header at the cursor (proto, host order)
 * and its L4 ports. Returns a terminal reason, or -1 with p->key, p->ip_off
 * and p->ip_len filled. */
static __always_inline int parse_inner_ip(struct cursor *c, void *data, struct pkt *p, __u16 proto)
{
	struct l3info l3 = {};
	__u16 sport = 0, dport = 0;
	__u32 captured, ip_off;
	__u8 tcp_flags = 0;
	int err;

	ip_off = cursor_off(c, data);
	p->ip_off = ip_off;
	err = parse_l3(c, proto, &l3);
	if (err == PARSE_SHORT)
		return REASON_SHORT_INNER_IP;
	if (err == PARSE_CHAIN_LONG)
		return REASON_IPV6_CHAIN_TOO_LONG;
	if (err == PARSE_SHORT_EXT)
		return REASON_SHORT_IPV6_EXT;
	if (err)
		return REASON_BAD_INNER_IP;

	/* Bytes are what the inner header states, so a copy the session
	 * truncated (PacketLength) still counts its whole length. */
	captured = p->wire_len - ip_off;
	if (l3.len == 0)
		l3.len = captured; /* TSO/GSO super-packet or IPv6 jumbogram: no stated length */
	p->ip_len = l3.len;

	if (l3.frag)
		pkt_flag(p, FLAG_INNER_FRAGMENT);
	/* Truncated: the copy holds less than the inner header states (the
	 * session's PacketLength); still accounted at the stated length. */
	p->truncated = captured < l3.len;
	if (p->truncated)
		pkt_flag(p, FLAG_TRUNCATED);
	if (l3.frag != 2) { /* later fragments carry no L4 header */
		if (l3.proto == IPPROTO_TCP)
			err = parse_tcp(c, &sport, &dport, &tcp_flags);
		else if (l3.proto == IPPROTO_UDP)
			err = parse_udp(c, &sport, &dport);
		else
			err = PARSE_OK;
		if (err) {
			/* A copy cut inside its L4 header still counts: ports
			 * from the first 4 bytes, flags from byte 13, each
			 * when the cut left it (else 0). Only a copy that is
			 * whole and still too short is malformed. */
			if (!p->truncated)
				return REASON_SHORT_INNER_L4;
			pkt_flag(p, FLAG_L4_TRUNCATED);
			if (parse_ports(c, &sport, &dport))
				sport = dport = 0;
			if (l3.proto != IPPROTO_TCP || parse_tcp_flags(c, &tcp_flags))
				tcp_flags = 0;
		}
	}

	pkt_key_set(p, l3.family, l3.proto, sport, dport, l3.src, l3.dst);
	p->tcp_flags = tcp_flags;
	return -1;
}

/* parse_inner_ip6: parse_inner_ip for an inner IPv6 header at p->ip_off.
 * Global: its extension-header chains would multiply the paths of the
 * inlined rest, past the verifier's budget; IPv4 stays inline. */
__noinline int parse_inner_ip6(struct xdp_md *ctx, struct pkt *p)
{
	void *data = (void *)(long)ctx->data;
	struct cursor cur = { .end = (void *)(long)ctx->data_end };
	__u32 off;

	if (!p)
		return REASON_SHORT_INNER_IP;
	off = p->ip_off;
	if (off > MAX_INNER_IP_OFF) /* keeps data + off a bounded packet pointer */
		return REASON_SHORT_INNER_IP;
	cur.pos = data + off;
	return parse_inner_ip(&cur, data, p, ETH_P_IPV6);
}

/* parse_inner: VXLAN header and the inner frame up to its L4 ports. Returns
 * a terminal reason, or -1 with p->key and p->ip_len filled. Inlined for
 * an inner IPv4 packet (one call and RET less per packet), IPv6 in
 * parse_inner_ip6. */
static __always_inline int parse_inner(struct xdp_md *ctx, struct pkt *p)
{
	void *data = (void *)(long)ctx->data;
	struct cursor cur = { .end = (void *)(long)ctx->data_end };
	struct cursor *c = &cur;
	__u16 proto;
	__u32 off;
	__u8 vlans, nonstd;
	int err;

	off = p->vxlan_off;
	if (off > MAX_OUTER_LEN) /* keeps data + off a bounded packet pointer */
		return REASON_SHORT_VXLAN;
	c->pos = data + off;
	err = parse_vxlan(c, &p->key.vni, &nonstd);
	if (err)
		return err == PARSE_SHORT ? REASON_SHORT_VXLAN : REASON_BAD_VXLAN_FLAGS;
	if (nonstd)
		pkt_flag(p, FLAG_VXLAN_NONSTD);
	err = vni_gate(p);
	if (err >= 0)
		return err;
	p->inner_off = cursor_off(c, data);

	err = parse_eth(c, &proto, &vlans);
	if (err)
		return err == PARSE_SHORT ? REASON_SHORT_INNER_ETH : REASON_SHORT_INNER_VLAN;
	if (vlans)
		pkt_flag(p, FLAG_INNER_VLAN);
	if (proto == ETH_P_IPV6) {
		p->ip_off = cursor_off(c, data);
		return parse_inner_ip6(ctx, p);
	}
	if (proto != ETH_P_IP)
		return REASON_NON_IP;
	return parse_inner_ip(c, data, p, ETH_P_IP);
}

/* Offsets in the common mirror copy parse_fast takes: outer Ethernet
 * without VLAN tags, IPv4 without options, UDP, VXLAN, inner Ethernet
 * without tags, IPv4 without options, then TCP or UDP. */
#define FAST_OUTER_IP  14                     /* outer IPv4 header */
#define FAST_UDP       (FAST_OUTER_IP + 20)   /* outer UDP header */
#define FAST_VXLAN     (FAST_UDP + 8)         /* VXLAN header */
#define FAST_INNER_ETH (FAST_VXLAN + VXLAN_HDR_LEN) /* inner Ethernet header */
#define FAST_INNER_IP  (FAST_INNER_ETH + 14)  /* inner IPv4 header */
#define FAST_L4        (FAST_INNER_IP + 20)   /* inner TCP or UDP header */

/* parse_fast's answer for a frame it does not take: the general parsers
 * (parse_outer, parse_inner) run from the start. */
#define PARSE_FAST_MISS -3

/* ld8, ld16, ld32: a byte, or a 16- or 32-bit word as it lies in the frame
 * (network order), at data + off. Bounds are the caller's: parse_fast
 * checks the whole layout once. */
#define ld8(data, off)  (*(__u8 *)((data) + (off)))
#define ld16(data, off) (*(__be16 *)((data) + (off)))
#define ld32(data, off) (*(__be32 *)((data) + (off)))

/* fast_outer: the fields parse_outer fills for the outer headers
 * parse_fast takes, then what parse_inner does up to the inner IP header:
 * the VNI (vx1: the VXLAN header's second word, host order), the VNI gate
 * and the inner offsets. Returns the VNI gate's answer (-1 or a reason). */
static __always_inline int fast_outer(struct pkt *p, void *data, __u32 vx1)
{
	int reason;

	p->mirror = 1;
	p->vxlan_off = FAST_VXLAN;
	p->outer_family = 4;
	copy_addr(p->outer_src, data + FAST_OUTER_IP + 12, 4);
	p->key.vni = vx1 >> 8;
	reason = vni_gate(p);
	if (reason >= 0)
		return reason;
	p->inner_off = FAST_INNER_ETH;
	p->ip_off = FAST_INNER_IP;
	return -1;
}

/* parse_fast: the copy nearly every mirror session sends, in one pass with
 * one bounds check: what parse_outer then parse_inner would do with it, the
 * same fields filled and the same answer (-1, or the VNI gate's reason),
 * in about a third of their instructions (their many small header steps,
 * each with its own cursor, bounds check and reason, were the largest part
 * of an existing flow's cost). An inner IPv6 packet behind those outer
 * headers goes on in parse_inner_ip6, as from parse_inner, without the
 * outer headers parsed twice. Anything else, or anything those parsers
 * would flag or refuse (VLAN tags, IP options or fragments, GENEVE, a
 * stated length below the header's, non-standard VXLAN bits, an L4 header
 * cut short, an untrusted source), is PARSE_FAST_MISS, and nothing in p
 * has been written: the general parsers then decide. */
static __always_inline int parse_fast(struct xdp_md *ctx, struct pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 vx0, vx1, captured, len;
	__u16 sport = 0, dport = 0;
	__u8 proto, tcp_flags = 0;
	int reason;

	if (data + FAST_INNER_IP > end) /* through the inner Ethernet header */
		return PARSE_FAST_MISS;
	if (ld16(data, 12) != bpf_htons(ETH_P_IP) || ld8(data, FAST_OUTER_IP) != 0x45 ||
	    bpf_ntohs(ld16(data, FAST_OUTER_IP + 2)) < 20 ||
	    (ld16(data, FAST_OUTER_IP + 6) & bpf_htons(IP_MF | IP_OFFMASK)) ||
	    ld8(data, FAST_OUTER_IP + 9) != IPPROTO_UDP ||
	    bpf_ntohs(ld16(data, FAST_UDP + 2)) != cfg_vxlan_port)
		return PARSE_FAST_MISS;
	vx0 = ld32(data, FAST_VXLAN);
	vx1 = bpf_ntohl(ld32(data, FAST_VXLAN + 4));
	if (vx0 != bpf_htonl((__u32)VXLAN_FLAG_I << 24) || (vx1 & 0xff))
		return PARSE_FAST_MISS; /* parse_vxlan: bad, or non-standard bits to flag */
	/* Trust before anything is written (parse_outer's order of answers:
	 * an untrusted source is noted by the general path). */
	if (cfg_source_check && !source_allowed(4, data + FAST_OUTER_IP + 12))
		return PARSE_FAST_MISS;
	if (ld16(data, FAST_INNER_ETH + 12) == bpf_htons(ETH_P_IPV6)) {
		/* An inner IPv6 packet: parse_inner_ip6 (global, as from
		 * parse_inner) from the inner IP header, the outer headers
		 * and VXLAN not parsed a second time. */
		reason = fast_outer(p, data, vx1);
		if (reason >= 0)
			return reason;
		return parse_inner_ip6(ctx, p);
	}
	if (data + FAST_L4 + 8 > end) /* through a UDP header; TCP checks its 20 below */
		return PARSE_FAST_MISS;
	if (ld16(data, FAST_INNER_ETH + 12) != bpf_htons(ETH_P_IP) || ld8(data, FAST_INNER_IP) != 0x45 ||
	    (ld16(data, FAST_INNER_IP + 6) & bpf_htons(IP_MF | IP_OFFMASK)))
		return PARSE_FAST_MISS;
	len = bpf_ntohs(ld16(data, FAST_INNER_IP + 2));
	if (len < 20)
		return PARSE_FAST_MISS; /* 0 (TSO) or malformed: parse_inner_ip's cases */
	proto = ld8(data, FAST_INNER_IP + 9);
	if (proto == IPPROTO_TCP) {
		if (data + FAST_L4 + 20 > end)
			return PARSE_FAST_MISS; /* TCP header cut short */
		tcp_flags = ld8(data, FAST_L4 + 13);
	}
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		sport = bpf_ntohs(ld16(data, FAST_L4));
		dport = bpf_ntohs(ld16(data, FAST_L4 + 2));
	}
	reason = fast_outer(p, data, vx1);
	if (reason >= 0)
		return reason;
	captured = p->wire_len - FAST_INNER_IP;
	p->ip_len = len;
	p->truncated = captured < len;
	if (p->truncated)
		pkt_flag(p, FLAG_TRUNCATED);
	pkt_key_set(p, 4, proto, sport, dport, data + FAST_INNER_IP + 12, data + FAST_INNER_IP + 16);
	p->tcp_flags = tcp_flags;
	return -1;
}

/* finish: filter, account and sample a parsed mirror copy. Inlined, as
 * parse_outer: its rare branches (classifier, new flow, capture, overflow)
 * are global functions of their own, so the verifier still walks them once. */
static __always_inline int finish(struct xdp_md *ctx, struct pkt *p)
{
	struct flow_probe f;
	__u64 now;
	int reason;

	p->sample_rate = cfg_sample_rate;
	p->verdict = 0;
	/* The flow first: a packet of a flow its slot kept the decision for
	 * (under this rule set) replays it instead of being classified. */
	flow_probe_cache(p, &f);
	if (cfg_filter_enabled && !(f.s && classify_replay(p, f.s)) &&
	    classify(ctx, p) == CLASSIFY_REJECT)
		return REASON_FILTER_REJECT;
	now = clock_ns();
	reason = account(p, now, &f);
	if (cfg_threat_enabled && reason == REASON_FLOW)
		threat_check(p, now);
	if (reason == REASON_FLOW && (p->sample_rule || sample_due(p->sample_rate)))
		emit_sample(ctx, p, now);
	if ((reason == REASON_FLOW || reason == REASON_OVERFLOW) && capture_running())
		capture(ctx, p, now); /* live captures of accounted copies (capture.h) */
	/* Last: it moves the frame's start past the outer headers. */
	if (cfg_decap && (reason == REASON_FLOW || reason == REASON_OVERFLOW))
		decap(ctx, p); /* the decapsulated feed (redirect.h) */
	return reason;
}

/* process: the whole packet; returns its terminal reason. */
static __always_inline int process(struct xdp_md *ctx, struct pkt *p)
{
	int reason;

	reason = parse_fast(ctx, p);
	if (reason == PARSE_FAST_MISS) {
		reason = parse_outer(ctx, p);
		if (reason == PARSE_GENEVE_NEXT)
			reason = geneve_to_vxlan(ctx, p);
		if (reason == REASON_UNKNOWN_SOURCE)
			note_offender(p, reason);
		if (reason >= 0)
			return reason;
		reason = parse_inner(ctx, p);
	}
	if (reason < 0)
		reason = finish(ctx, p);
	if (reason == REASON_UNKNOWN_VNI) {
		/* Not under the VNI: spoofed VNIs must not fill vni_stats. */
		note_offender(p, reason);
		return reason;
	}
	/* Copies that make no flow are noted under their VNI, when known. */
	if (reason != REASON_FLOW && reason != REASON_OVERFLOW &&
	    reason != REASON_SHORT_VXLAN && reason != REASON_BAD_VXLAN_FLAGS)
		note_vni(p->key.vni, reason);
	return reason;
}

SEC("xdp.frags")
int vxtap_xdp(struct xdp_md *ctx)
{
	struct pkt p;
	int reason;

	pkt_init(&p);
	p.wire_len = frame_len(ctx);
	reason = process(ctx, &p);
	count(reason, p.wire_len);
	count_flags(&p);
	if (p.redirect)
		return XDP_REDIRECT; /* armed by decap (redirect.h) */
	if (p.mirror && !cfg_pass_mirror)
		return XDP_DROP;
	return XDP_PASS;
}
