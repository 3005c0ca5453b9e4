/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A flood degrades, never blinds: a copy of a flow that finds no slot is
 * still accounted, exactly, in a coarser aggregate: by {VNI, inner
 * destination, protocol, destination port}; when that table is full, by
 * VNI; when that is full too, in one catch-all. Every aggregate is keyed by
 * the half (gen) the data path adds to; Go flips the half, waits an RCU
 * grace period, then drains the old half, so no count is read while it
 * still moves and none is lost. */
#ifndef VXTAP_OVERFLOW_H
#define VXTAP_OVERFLOW_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "pkt.h"

/* overflow_into: add the packet to this CPU's share of an aggregate. */
static __always_inline void overflow_into(struct overflow_val *v, struct pkt *p, __u64 now)
{
	v->packets++;
	v->bytes += p->ip_len;
	if (!v->first_ns)
		v->first_ns = now;
	v->last_ns = now;
	v->tcp_flags |= p->tcp_flags;
	if (p->truncated)
		v->truncated = 1;
}

/* overflow_lookup: the aggregate of key in map, created when missing;
 * NULL when the map is full. */
static __always_inline struct overflow_val *overflow_lookup(void *map, const void *key)
{
	struct overflow_val *v = bpf_map_lookup_elem(map, key);
	struct overflow_val zero = {};

	if (v)
		return v;
	/* Another CPU may create it first: then the lookup finds theirs. */
	bpf_map_update_elem(map, key, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

/* overflow_add: account a copy that found no flow slot. Returns the
 * terminal reason: REASON_OVERFLOW, or REASON_FLOW_INSERT_FAILED if even
 * the catch-all is out of reach (not expected: it is an array). Global, so
 * the verifier checks it once. */
__noinline int overflow_add(struct pkt *p, __u64 now)
{
	__u32 k_gen = FLOW_CTL_OVERFLOW_GEN, gen;
	struct overflow_key k = {};
	struct overflow_vni_key vk = {};
	struct overflow_val *v;
	__u64 *g;

	if (!p)
		return REASON_FLOW_INSERT_FAILED;
	g = bpf_map_lookup_elem(&flow_ctl, &k_gen);
	gen = g ? (__u32)(*(volatile __u64 *)g & 1) : 0;
	k.gen = gen;
	k.vni = p->key.vni;
	k.family = p->key.family;
	k.proto = p->key.proto;
	k.dport = p->key.dport;
	__builtin_memcpy(k.dst, p->key.dst, sizeof(k.dst));
	v = overflow_lookup(&overflow_flows, &k);
	if (!v) {
		vk.gen = gen;
		vk.vni = p->key.vni;
		v = overflow_lookup(&overflow_vnis, &vk);
	}
	if (!v)
		v = bpf_map_lookup_elem(&overflow_all, &gen);
	if (!v)
		return REASON_FLOW_INSERT_FAILED;
	overflow_into(v, p, now);
	return REASON_OVERFLOW;
}

#endif /* VXTAP_OVERFLOW_H */
