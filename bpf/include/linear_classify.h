/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Linear-scan classifier: the benchmark baseline of classify.h. Same
 * sessions, direction and hit counters, but the rules are tried one after
 * the other until one matches, so the cost grows with the rule count. No
 * Amazon DNS handling: benchmarks only. Included by bpf/xdp_linear.c before
 * xdp_vxtap.c; it takes classify.h's include guard, so the data path is
 * the same program with this classifier instead. */
#ifndef VXTAP_CLASSIFY_H
#define VXTAP_CLASSIFY_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "filter_lookup.h"
#include "pkt.h"

/* One rule as the linear scan tests it. */
struct linear_rule {
	__u8 family;    /* 0 any, 4 or 6 */
	__u8 proto;     /* IANA protocol when has_proto */
	__u8 has_proto; /* 0: all protocols */
	__u8 action;    /* enum filter_action */
	__u32 number;   /* RuleNumber */
	__u32 src[4];   /* masked source CIDR address, network order */
	__u32 src_mask[4];
	__u32 dst[4];   /* masked destination CIDR address */
	__u32 dst_mask[4];
	__u16 sport_lo, sport_hi; /* inclusive source port range */
	__u16 dport_lo, dport_hi; /* inclusive destination port range */
};

/* Rules by slot (rule_base + index), as filter_rules. Set from Go. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * 8192);
	__type(key, __u32);
	__type(value, struct linear_rule);
} linear_rules SEC(".maps");

/* The packet fields a scan compares, and what it found. */
struct linear_scan {
	__u32 src[4], dst[4]; /* inner addresses, network order */
	__u32 base;           /* slot of the ruleset's first rule */
	__u16 sport, dport;
	__u8 family, proto;
	__u16 pad;
	int found;            /* rule index, -1 = none */
};

/* linear_words_match: (addr & mask) == want on 16 bytes. */
static __always_inline int linear_words_match(const __u32 *addr, const __u32 *want, const __u32 *mask)
{
	return (addr[0] & mask[0]) == want[0] && (addr[1] & mask[1]) == want[1] &&
	       (addr[2] & mask[2]) == want[2] && (addr[3] & mask[3]) == want[3];
}

/* linear_step: bpf_loop callback testing rule i; 1 stops the loop. */
static long linear_step(__u64 i, void *data)
{
	struct linear_scan *s = data;
	__u32 slot = s->base + (__u32)i;
	struct linear_rule *r = bpf_map_lookup_elem(&linear_rules, &slot);

	if (!r)
		return 1;
	if (r->family && r->family != s->family)
		return 0;
	if (r->has_proto && r->proto != s->proto)
		return 0;
	if (s->sport < r->sport_lo || s->sport > r->sport_hi || s->dport < r->dport_lo || s->dport > r->dport_hi)
		return 0;
	if (!linear_words_match(s->src, r->src, r->src_mask) || !linear_words_match(s->dst, r->dst, r->dst_mask))
		return 0;
	s->found = i;
	return 1;
}

/* linear_classify: session and direction as filter_classify, then the
 * ruleset's rules in order. Global, verified once. */
__noinline int linear_classify(struct pkt *p)
{
	struct linear_scan scan = { .found = -1 };
	struct filter_session *s;
	struct linear_rule *r;
	__u32 gen, n, slot;
	int dir;

	if (!p)
		return CLASSIFY_ACCEPT;
	gen = filter_active_gen();
	s = filter_session_of(p->key.vni, gen);
	if (!s)
		return CLASSIFY_ACCEPT;
	if (s->mode != FILTER_MODE_RULES) {
		filter_hit(s->slot, p);
		return s->mode == FILTER_MODE_REJECT ? CLASSIFY_REJECT : CLASSIFY_ACCEPT;
	}
	dir = filter_direction(s, p, gen);
	p->dir = flow_dir_of(dir);
	if (dir == FILTER_DIR_UNKNOWN) {
		filter_hit(s->slot, p);
		return CLASSIFY_ACCEPT;
	}
	dir &= 1;
	n = s->nrules[dir];
	scan.base = s->rule_base[dir];
	__builtin_memcpy(scan.src, p->key.src, sizeof(scan.src));
	__builtin_memcpy(scan.dst, p->key.dst, sizeof(scan.dst));
	scan.sport = p->key.sport;
	scan.dport = p->key.dport;
	scan.family = p->key.family;
	scan.proto = p->key.proto;
	/* bpf_loop bounds the scan: at most FILTER_MAX_RULES callbacks. */
	bpf_loop(n < FILTER_MAX_RULES ? n : FILTER_MAX_RULES, linear_step, &scan, 0);
	if (scan.found < 0) {
		filter_hit(scan.base + n, p);
		return CLASSIFY_REJECT;
	}
	slot = scan.base + scan.found;
	filter_hit(slot, p);
	r = bpf_map_lookup_elem(&linear_rules, &slot);
	if (r && r->action != FILTER_ACCEPT)
		return CLASSIFY_REJECT;
	return CLASSIFY_ACCEPT;
}

/* classify_replay: the baseline classifies every packet. */
static __always_inline int classify_replay(struct pkt *p, const struct flow_slot *s)
{
	return 0;
}

/* classify: the data path's hook, as in classify.h. */
static __always_inline int classify(struct xdp_md *ctx, struct pkt *p)
{
	return linear_classify(p);
}

/* Anchor so bpf2go can generate the Go side of struct linear_rule. */
const struct linear_rule *btf_anchor_linear_rule __attribute__((unused));

#endif /* VXTAP_CLASSIFY_H */
