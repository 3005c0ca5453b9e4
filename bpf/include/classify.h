/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Filter classification with AWS Traffic Mirror filter semantics: per
 * direction, the lowest-numbered matching rule decides accept or reject, no
 * match rejects. Userspace compiles each ruleset into per-field tables
 * (source and destination CIDR tries, protocol, source and destination
 * port) whose values are bitsets of the rules matching on that field; here
 * the five bitsets are ANDed and the lowest set bit is the deciding rule
 * (linear bit-vector search). IPv4 CIDRs are found in a fixed-stride table
 * (at most 4 levels), IPv6 CIDRs in an LPM trie; the cost depends on the
 * address length, not on the rule count. Only reached when cfg_filter_enabled is set. */
#ifndef VXTAP_CLASSIFY_H
#define VXTAP_CLASSIFY_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "account.h"
#include "filter_lookup.h"
#include "pkt.h"

/* filter_ctz: index of the lowest set bit of x != 0. clang 14 cannot
 * lower __builtin_ctzll for BPF; popcount expands into plain arithmetic. */
static __always_inline __u32 filter_ctz(__u64 x)
{
	return __builtin_popcountll((x & -x) - 1);
}

/* filter_first_rule: lowest rule index set in all five bitsets, or -1.
 * The summaries name the words worth ANDing; usually the first is it. */
static __always_inline int filter_first_rule(const struct filter_bitset *a, const struct filter_bitset *b,
					     const struct filter_bitset *c, const struct filter_bitset *d,
					     const struct filter_bitset *e)
{
	__u64 cand = a->summary & b->summary & c->summary & d->summary & e->summary;

	/* Bounded by FILTER_BITSET_WORDS: every pass clears one candidate
	 * word, and there are no more words than that. */
	for (int i = 0; i < FILTER_BITSET_WORDS; i++) {
		__u32 w;
		__u64 m;

		if (!cand)
			break;
		w = filter_ctz(cand) & (FILTER_BITSET_WORDS - 1);
		m = a->w[w] & b->w[w] & c->w[w] & d->w[w] & e->w[w];
		if (m)
			return w * 64 + (filter_ctz(m) & 63);
		cand &= cand - 1;
	}
	return -1;
}

/* filter_rule_apply: what an accepting rule asks of the packet. */
static __always_inline void filter_rule_apply(struct pkt *p, const struct filter_rule *r)
{
	if (r->sample_rate)
		p->sample_rate = r->sample_rate;
	if (r->capture)
		p->sample_rule = r->number;
	p->no_forward = r->no_forward;
	p->rule = r->number;
}

/* filter_session_apply: what the session asks of its packets (the VNI
 * gate kept it in p). */
static __always_inline void filter_session_apply(struct pkt *p)
{
	if (p->sess_sample_rate)
		p->sample_rate = p->sess_sample_rate;
	if (p->sess_snap_len)
		p->snap_len = p->sess_snap_len;
}

/* filter_keep: note an accepting decision (counted under rule_hits slot
 * hit, bits from enum filter_verdict) in p->verdict, for the flow's slot to
 * keep under the filter_gen value the packet read (finish, account.h). */
static __always_inline void filter_keep(struct pkt *p, __u32 hit, __u32 bits)
{
	p->verdict = (__u64)((hit & FILTER_VERDICT_HIT_MASK) | bits) << 32 | p->gen;
}

/* filter_decide: evaluate one ruleset (a filter's rules for one direction). */
static __always_inline int filter_decide(struct pkt *p, const struct filter_session *s, __u32 dir, __u32 gen,
					 __u32 unknown)
{
	__u32 rs = s->ruleset[dir], base = s->rule_base[dir], n = s->nrules[dir];
	__u32 table = filter_table(rs, gen), src = 0, dst = 0, slot;
	struct filter_bitset *bp, *bsp, *bdp, *bs, *bd;
	struct filter_rule *r;
	int i;

	i = filter_cidrs(p, rs, gen, &src, &dst);
	if (i < 0)
		goto no_match; /* every table covers ::/0 and 0.0.0.0/0: not reached */
	/* Amazon DNS traffic is mirrored only with the amazon-dns network
	 * service, whatever the rules say. */
	if (i > 0) {
		filter_hit(base + n + 1, p);
		if (!(s->flags & FILTER_SESSION_AMAZON_DNS))
			return CLASSIFY_REJECT;
		filter_keep(p, base + n + 1, unknown);
		return CLASSIFY_ACCEPT;
	}
	bs = filter_bitset_at(src);
	bd = filter_bitset_at(dst);
	bp = filter_proto_set(table, p->key.proto);
	/* Ports are 0 for protocols without them: rules with a port range
	 * name TCP or UDP, so the protocol bitset excludes them. */
	bsp = filter_port_set(table, FILTER_FIELD_SRC, p->key.sport);
	bdp = filter_port_set(table, FILTER_FIELD_DST, p->key.dport);
	if (!bs || !bd || !bp || !bsp || !bdp)
		goto no_match;
	i = filter_first_rule(bs, bd, bp, bsp, bdp);
	if (i < 0)
		goto no_match;
	slot = base + i;
	r = bpf_map_lookup_elem(&filter_rules, &slot);
	if (!r)
		goto no_match;
	filter_hit(slot, p);
	if (r->action != FILTER_ACCEPT)
		return CLASSIFY_REJECT;
	filter_rule_apply(p, r);
	filter_keep(p, slot, FILTER_VERDICT_RULE | unknown);
	return CLASSIFY_ACCEPT;
no_match:
	filter_hit(base + n, p);
	return CLASSIFY_REJECT;
}

/* filter_classify: session, direction, then the direction's ruleset.
 * Global, so the verifier checks it once, apart from the data path. */
__noinline int filter_classify(struct pkt *p)
{
	struct filter_session *s;
	__u32 gen, unknown = 0;
	int dir;

	if (!p || !p->has_sess)
		return CLASSIFY_ACCEPT; /* no rule set applied yet: analyze all */
	/* The session the VNI gate found: the same filter_gen value finds the
	 * same entry, and Go rewrites a generation's tables only a grace
	 * period after leaving it, which waits for this run. */
	s = filter_session_of(p->key.vni, p->gen);
	if (!s)
		return CLASSIFY_ACCEPT; /* not reached: the VNI gate found it */
	gen = p->gen & 1;
	filter_session_apply(p);
	if (s->mode != FILTER_MODE_RULES) {
		filter_hit(s->slot, p);
		if (s->mode == FILTER_MODE_REJECT)
			return CLASSIFY_REJECT;
		filter_keep(p, s->slot, 0);
		return CLASSIFY_ACCEPT;
	}
	dir = filter_direction(s, p, p->gen);
	p->dir = flow_dir_of(dir);
	if (dir == FILTER_DIR_UNKNOWN) {
		/* Counted here rather than through p->flags: a session whose
		 * copies all have an unknown direction would otherwise make
		 * every packet call flags_count (a call and its RET). */
		count(REASON__MAX + FLAG_DIR_UNKNOWN, p->wire_len);
		unknown = FILTER_VERDICT_DIR_UNKNOWN;
		if (s->unknown == FILTER_UNKNOWN_INGRESS) {
			dir = FILTER_DIR_INGRESS;
		} else if (s->unknown == FILTER_UNKNOWN_EGRESS) {
			dir = FILTER_DIR_EGRESS;
		} else {
			filter_hit(s->slot, p);
			if (s->unknown == FILTER_UNKNOWN_REJECT)
				return CLASSIFY_REJECT;
			filter_keep(p, s->slot, unknown);
			return CLASSIFY_ACCEPT;
		}
	}
	return filter_decide(p, s, dir & 1, gen, unknown);
}

/* filter_replay: a later packet of a flow whose slot s kept the
 * classifier's decision under the filter_gen value this packet read (so
 * the same rule set: Go counts applies in that value) and that came from
 * the slot's mirror source (the direction may hang on it): the decision's
 * counts, and what it asks of the packet, as filter_classify would give
 * them, without its lookups. Returns 1 when it replayed, 0 when the packet
 * is to be classified. */
static __always_inline int filter_replay(struct pkt *p, const struct flow_slot *s)
{
	__u64 v = *(volatile const __u64 *)&s->verdict;
	__u32 bits = v >> 32, hit = bits & FILTER_VERDICT_HIT_MASK;
	struct filter_rule *r = NULL;

	if ((__u32)v != p->gen || !flow_outer_same(s, p))
		return 0; /* also when none is kept: p->gen is never 0 with a session */
	if (bits & FILTER_VERDICT_RULE) {
		r = bpf_map_lookup_elem(&filter_rules, &hit);
		if (!r)
			return 0; /* not reached: hit was a rule's slot in this generation */
	}
	filter_session_apply(p);
	if (bits & FILTER_VERDICT_DIR_UNKNOWN)
		count(REASON__MAX + FLAG_DIR_UNKNOWN, p->wire_len);
	filter_hit(hit, p);
	if (r)
		filter_rule_apply(p, r);
	return 1;
}

/* classify_replay: the hook finish calls with the slot the flow cache
 * found: 1 when the slot's kept decision decided the packet (accepted). */
static __always_inline int classify_replay(struct pkt *p, const struct flow_slot *s)
{
	if (!cfg_verdict_cache || !p->has_sess)
		return 0;
	return filter_replay(p, s);
}

/* classify: the hook the data path calls (xdp_vxtap.c, finish). A copy
 * with no session (no rule set applied) is accepted here, without the call. */
static __always_inline int classify(struct xdp_md *ctx, struct pkt *p)
{
	if (!p->has_sess)
		return CLASSIFY_ACCEPT;
	return filter_classify(p);
}

#endif /* VXTAP_CLASSIFY_H */
