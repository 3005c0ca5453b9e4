/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Filter table lookups: generation, session, direction and the per-field
 * tables of include/filter_maps.h. Shared by the classifier (classify.h)
 * and the linear-scan baseline (linear_classify.h). */
#ifndef VXTAP_FILTER_LOOKUP_H
#define VXTAP_FILTER_LOOKUP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "filter_maps.h"
#include "pkt.h"

#define CLASSIFY_ACCEPT 0 /* analyze the packet */
#define CLASSIFY_REJECT 1 /* count it under its rule and drop it */
#define FILTER_DIR_UNKNOWN -1 /* neither inner address is the session's ENI */

/* Index layout of the tables (enum filter_layout; loader/filter_layout.go
 * computes the same from the same enum). */
static __always_inline __u32 filter_table(__u32 rs, __u32 gen) { return rs * FILTER_GENS + gen; }
static __always_inline __u32 filter_field_table(__u32 table, __u32 field) { return table * FILTER_FIELDS + field; }
static __always_inline __u32 filter_proto_index(__u32 table, __u8 proto) { return table * FILTER_PROTOS + proto; }
static __always_inline __u32 filter_port_index(__u32 table, __u32 field, __u16 port)
{
	return filter_field_table(table, field) * FILTER_PORT_BLOCKS + (port >> 8);
}

/* filter_gen_word: the filter_gen value: the active generation (bit 0)
 * and FILTER_GEN_SESSIONS. */
static __always_inline __u32 filter_gen_word(void)
{
	__u32 zero = 0;
	__u32 *g = bpf_map_lookup_elem(&filter_gen, &zero);

	return g ? *(volatile __u32 *)g : 0;
}

/* filter_active_gen: the generation this packet is classified by. Read
 * exactly once: every later lookup carries it in its key. */
static __always_inline __u32 filter_active_gen(void)
{
	return filter_gen_word() & 1;
}

/* filter_session_hashed: filter_session_of from the filter_sessions hash. */
static __always_inline struct filter_session *filter_session_hashed(__u32 vni, __u32 gen)
{
	struct filter_session_key k = { .vni = vni, .gen = gen };
	struct filter_session *s = bpf_map_lookup_elem(&filter_sessions, &k);

	if (s)
		return s;
	k.vni = FILTER_DEFAULT_VNI;
	return bpf_map_lookup_elem(&filter_sessions, &k);
}

/* filter_vni_entry: the filter_vni entry of generation gen a VNI picks
 * (slot) or the default session's (the entry after the slots). */
static __always_inline struct filter_vni_slot *filter_vni_entry(__u32 gen, __u32 slot)
{
	__u32 i = gen * FILTER_VNI_STRIDE + slot;

	return bpf_map_lookup_elem(&filter_vni, &i);
}

/* filter_session_of: the VNI's session, else the default session; NULL
 * when no rule set was ever applied. word is the generation (bit 0) and
 * FILTER_GEN_VNI of the filter_gen value the packet read. From filter_vni
 * (array lookups, inlined) unless the VNI's slot is shared, or the
 * generation's filter_vni half was not written with it (FILTER_GEN_VNI
 * clear: an older vxtap applied the rules). */
static __always_inline struct filter_session *filter_session_of(__u32 vni, __u32 word)
{
	__u32 gen = word & 1;
	struct filter_vni_slot *e;

	if (!(word & FILTER_GEN_VNI))
		return filter_session_hashed(vni, gen);
	e = filter_vni_entry(gen, vni & (FILTER_VNI_SLOTS - 1));
	if (!e || e->kind == FILTER_VNI_LOOKUP)
		return filter_session_hashed(vni, gen);
	if (e->kind == FILTER_VNI_ONE && e->vni == vni)
		return &e->sess;
	/* No session has this VNI: the default session's entry decides. */
	e = filter_vni_entry(gen, FILTER_VNI_SLOTS);
	if (!e || e->kind == FILTER_VNI_LOOKUP)
		return filter_session_hashed(vni, gen);
	return e->kind == FILTER_VNI_ONE ? &e->sess : NULL;
}

/* filter_addr_eq: two 16-byte address slots are equal (4-byte aligned). */
static __always_inline int filter_addr_eq(const __u8 *a, const __u8 *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

/* filter_eni_has: addr is one of the session's source-ENI addresses. */
static __always_inline int filter_eni_has(__u32 gen, const struct pkt *p, const __u8 *addr)
{
	struct filter_eni_key k = { .gen = gen, .vni = p->key.vni, .family = p->key.family };

	__builtin_memcpy(k.addr, addr, sizeof(k.addr));
	return bpf_map_lookup_elem(&filter_eni, &k) != NULL;
}

/* filter_direction_outer: the direction by the outer source alone (the
 * source ENI's primary address). */
static __always_inline int filter_direction_outer(const struct pkt *p)
{
	if (p->outer_family != p->key.family)
		return FILTER_DIR_UNKNOWN;
	if (filter_addr_eq(p->key.dst, p->outer_src))
		return FILTER_DIR_INGRESS;
	if (filter_addr_eq(p->key.src, p->outer_src))
		return FILTER_DIR_EGRESS;
	return FILTER_DIR_UNKNOWN;
}

/* filter_vni_has: addr (the packet's family) is one of the addresses a
 * filter_vni entry holds. */
static __always_inline int filter_vni_has(const struct filter_vni_slot *e, const struct pkt *p, const __u8 *addr)
{
	if (p->key.family == 4) {
		__u32 a = *(const __u32 *)addr; /* 4-byte aligned in the flow key */

		/* Bounded by FILTER_VNI_ADDRS4, the entry's room. */
#pragma unroll
		for (int j = 0; j < FILTER_VNI_ADDRS4; j++)
			if (j < e->naddr4 && e->addr4[j] == a)
				return 1;
		return 0;
	}
	/* Bounded by FILTER_VNI_ADDRS6, the entry's room. */
#pragma unroll
	for (int j = 0; j < FILTER_VNI_ADDRS6; j++)
		if (j < e->naddr6 && filter_addr_eq(e->addr6[j], addr))
			return 1;
	return 0;
}

/* filter_direction: ingress when the inner destination is the source
 * ENI's, egress when the inner source is; the ENI's addresses are the
 * session's list, or else the outer source. The list is read from the
 * VNI's filter_vni entry when that entry is the session's and holds the
 * whole list (compared inline), else from filter_eni (hash lookups). */
static __always_inline int filter_direction(const struct filter_session *s, const struct pkt *p, __u32 word)
{
	__u32 gen = word & 1;
	struct filter_vni_slot *e = NULL;

	if (!(s->flags & FILTER_SESSION_ADDRS))
		return filter_direction_outer(p);
	if (word & FILTER_GEN_VNI)
		e = filter_vni_entry(gen, p->key.vni & (FILTER_VNI_SLOTS - 1));
	if (e && e->kind == FILTER_VNI_ONE && e->vni == p->key.vni && e->addrs) {
		if (filter_vni_has(e, p, p->key.dst))
			return FILTER_DIR_INGRESS;
		if (filter_vni_has(e, p, p->key.src))
			return FILTER_DIR_EGRESS;
		return FILTER_DIR_UNKNOWN;
	}
	if (filter_eni_has(gen, p, p->key.dst))
		return FILTER_DIR_INGRESS;
	if (filter_eni_has(gen, p, p->key.src))
		return FILTER_DIR_EGRESS;
	return FILTER_DIR_UNKNOWN;
}

/* flow_dir_of: enum filter_dir (or FILTER_DIR_UNKNOWN) as enum flow_dir. */
static __always_inline __u8 flow_dir_of(int dir)
{
	if (dir == FILTER_DIR_INGRESS)
		return FLOW_DIR_INGRESS;
	if (dir == FILTER_DIR_EGRESS)
		return FLOW_DIR_EGRESS;
	return FLOW_DIR_UNKNOWN;
}

/* flow_direction: the direction of a new flow, for its slot: what the
 * classifier found, else by the VNI's session, else by the outer source.
 * Runs once per new flow, so packets of known flows never pay for it. */
static __noinline __u8 flow_direction(struct pkt *p)
{
	struct filter_session *s;
	__u32 gen;

	if (p->dir != FLOW_DIR_UNSET)
		return p->dir;
	if (p->has_sess) {
		gen = p->gen; /* the filter_gen value the VNI gate read (trust.h) */
	} else {
		gen = filter_gen_word();
		if (!(gen & FILTER_GEN_SESSIONS))
			return flow_dir_of(filter_direction_outer(p)); /* no rule set applied: no session to look up */
	}
	s = filter_session_of(p->key.vni, gen);
	return flow_dir_of(s ? filter_direction(s, p, gen) : filter_direction_outer(p));
}

/* filter_hit: count the packet under a slot of rule_hits. */
static __always_inline void filter_hit(__u32 slot, const struct pkt *p)
{
	struct counter *c = bpf_map_lookup_elem(&rule_hits, &slot);

	if (c) {
		c->packets++;
		c->bytes += p->ip_len;
	}
}

/* filter_cidr4: the entry for the longest IPv4 CIDR of a table
 * ((ruleset * 2 + gen) * 2 + field) containing addr: FILTER_V4_TERMINAL,
 * maybe FILTER_V4_RESOLVER, and the bitset index << FILTER_V4_SHIFT; 0 if
 * the table is incomplete (not reached: every table covers 0.0.0.0/0). */
static __always_inline __u32 filter_cidr4(__u32 table, const __u8 *addr)
{
	__u32 *root = bpf_map_lookup_elem(&filter_v4root, &table);
	__u32 node, e;

	if (!root)
		return 0;
	node = *root;
	/* Bounded by 4: one level per byte of an IPv4 address. */
#pragma unroll
	for (int lvl = 0; lvl < 4; lvl++) {
		struct filter_v4_node *n = bpf_map_lookup_elem(&filter_v4node, &node);

		if (!n)
			return 0;
		e = n->e[addr[lvl]];
		if (e & FILTER_V4_TERMINAL)
			return e;
		node = e >> FILTER_V4_SHIFT;
	}
	return 0;
}

/* filter_cidr6: longest IPv6 CIDR of the ruleset (scope) containing addr. */
static __always_inline struct filter_lpm_val *filter_cidr6(__u32 scope, const __u8 *addr)
{
	struct filter_lpm6_key k = { .prefixlen = 32 + 128, .scope = scope };

	__builtin_memcpy(k.addr, addr, sizeof(k.addr));
	return bpf_map_lookup_elem(&filter_lpm6, &k);
}

/* filter_cidrs: bitsets of the longest source and destination CIDRs
 * containing the packet's addresses; returns -1 if a table is incomplete,
 * else 1 when an address is an Amazon DNS resolver, 0 when none is. */
static __always_inline int filter_cidrs(const struct pkt *p, __u32 rs, __u32 gen, __u32 *src_bs, __u32 *dst_bs)
{
	__u32 table = filter_table(rs, gen);

	if (p->key.family == 4) {
		__u32 s = filter_cidr4(filter_field_table(table, FILTER_FIELD_SRC), p->key.src);
		__u32 d = filter_cidr4(filter_field_table(table, FILTER_FIELD_DST), p->key.dst);

		if (!s || !d)
			return -1;
		*src_bs = s >> FILTER_V4_SHIFT;
		*dst_bs = d >> FILTER_V4_SHIFT;
		return ((s | d) & FILTER_V4_RESOLVER) ? 1 : 0;
	}
	struct filter_lpm_val *s6 = filter_cidr6(filter_field_table(table, FILTER_FIELD_SRC), p->key.src);
	struct filter_lpm_val *d6 = filter_cidr6(filter_field_table(table, FILTER_FIELD_DST), p->key.dst);

	if (!s6 || !d6)
		return -1;
	*src_bs = s6->bitset;
	*dst_bs = d6->bitset;
	return ((s6->flags | d6->flags) & FILTER_LPM_RESOLVER) ? 1 : 0;
}

/* filter_bitset_at: bitset by index. */
static __always_inline struct filter_bitset *filter_bitset_at(__u32 idx)
{
	return bpf_map_lookup_elem(&filter_bitsets, &idx);
}

/* filter_proto_set: rules matching the protocol. */
static __always_inline struct filter_bitset *filter_proto_set(__u32 table, __u8 proto)
{
	__u32 idx = filter_proto_index(table, proto);
	__u32 *bs = bpf_map_lookup_elem(&filter_proto, &idx);

	return bs ? filter_bitset_at(*bs) : NULL;
}

/* filter_port_set: rules matching a port: one array lookup for a block
 * without a range boundary, two for a block with one. */
static __always_inline struct filter_bitset *filter_port_set(__u32 table, __u32 field, __u16 port)
{
	__u32 idx = filter_port_index(table, field, port);
	__u32 *top = bpf_map_lookup_elem(&filter_port_top, &idx);
	struct filter_port_block *blk;
	__u32 b;

	if (!top)
		return NULL;
	b = *top;
	if (b & FILTER_PORT_UNIFORM)
		return filter_bitset_at(b & ~FILTER_PORT_UNIFORM);
	blk = bpf_map_lookup_elem(&filter_port_blk, &b);
	if (!blk)
		return NULL;
	return filter_bitset_at(blk->bitset[port & 0xff]);
}

#endif /* VXTAP_FILTER_LOOKUP_H */
