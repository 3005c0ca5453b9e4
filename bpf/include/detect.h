/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Threat lists in the kernel (issue 13): every accounted copy's inner
 * source and destination are looked up in the threats trie; a flow's first
 * hit marks its slot and sends one EVENT_THREAT_HIT at once, so userspace
 * raises UnauthorizedAccess:EC2/MaliciousIPCaller.Custom without waiting
 * for a sweep. Compiled in always, run only when cfg_threat_enabled. */
#ifndef VXTAP_DETECT_H
#define VXTAP_DETECT_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "account.h"
#include "config.h"
#include "maps.h"
#include "pkt.h"

/* Threat-listed prefixes of both families -> list id (1-based, Go's order
 * of detect.threat_lists). Size set from Go. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct threat_lpm_key);
	__type(value, __u32);
} threats SEC(".maps");

/* The event record has no map type to carry it into BTF. */
const struct threat_event *btf_anchor_threat_event __attribute__((unused));
const enum threat_side *btf_anchor_threat_side __attribute__((unused));
const enum flow_mark *btf_anchor_flow_mark __attribute__((unused));

/* threat_list_of: the list id of the longest listed prefix holding addr
 * (16 bytes, IPv4 in the first 4), 0 when none does. */
static __always_inline __u32 threat_list_of(__u8 family, const __u8 *addr)
{
	struct threat_lpm_key k = { .family = family };
	__u32 *list;

	k.prefixlen = family == 4 ? 32 + 32 : 32 + 128;
	__builtin_memcpy(k.addr, addr, sizeof(k.addr));
	list = bpf_map_lookup_elem(&threats, &k);
	return list ? *list : 0;
}

/* threat_first_hit: marks the packet's flow as hit; 1 when this CPU set
 * the mark (so exactly one event per flow), 0 when it was already set.
 * The slot is the one account() added the packet to (p->slot): Go frees
 * it only a grace period after taking it out, so it is still this flow's. */
static __always_inline int threat_first_hit(struct pkt *p)
{
	__u32 idx = p->slot - 1;
	struct flow_slot *s;

	if (!p->slot)
		return 1;
	s = bpf_map_lookup_elem(&flow_slots, &idx);
	if (!s || !flow_key_eq(&s->key, &p->key))
		return 1;
	if (s->marks & FLOW_MARK_THREAT)
		return 0; /* the common case of a listed flow: no atomic */
	return !(__sync_fetch_and_or(&s->marks, FLOW_MARK_THREAT) & FLOW_MARK_THREAT);
}

/* emit_threat_event: the hit record, with a wakeup: it is rare (once per
 * flow) and someone is waiting for it. */
static __always_inline void emit_threat_event(struct pkt *p, __u32 src_list, __u32 dst_list, __u64 now)
{
	struct threat_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);

	if (!ev) {
		pkt_flag(p, FLAG_RINGBUF_FULL);
		return;
	}
	ev->type = EVENT_THREAT_HIT;
	ev->tcp_flags = p->tcp_flags;
	ev->outer_family = p->outer_family;
	ev->side = (src_list ? THREAT_SIDE_SRC : 0) | (dst_list ? THREAT_SIDE_DST : 0);
	ev->first = !!(p->flags & (1U << FLAG_FLOW_START));
	ev->ts_ns = now;
	__builtin_memcpy(&ev->key, &p->key, sizeof(ev->key));
	__builtin_memcpy(ev->outer_src, p->outer_src, sizeof(ev->outer_src));
	ev->src_list = src_list;
	ev->dst_list = dst_list;
	pkt_flag(p, FLAG_THREAT_EVENT);
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
}

/* threat_check: an accounted copy (its flow in the table) against the
 * threats trie: every hit counted, a flow's first hit sent. */
static __always_inline void threat_check(struct pkt *p, __u64 now)
{
	__u32 src_list = threat_list_of(p->key.family, p->key.src);
	__u32 dst_list = threat_list_of(p->key.family, p->key.dst);

	if (!src_list && !dst_list)
		return;
	pkt_flag(p, FLAG_THREAT_HIT);
	if (threat_first_hit(p))
		emit_threat_event(p, src_list, dst_list, now);
}

#endif /* VXTAP_DETECT_H */
