/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Live captures (`vxtap capture`): up to CAPTURE_MAX_SLOTS compiled
 * top-view filters, checked for every accounted copy. A copy matching any
 * of them crosses the ring buffer once, as an EVENT_CAPTURE record whose
 * bitmask names the captures; while no capture runs a copy costs one map
 * lookup and one test. Go (loader/capture.go) sets and clears the slots.
 * Byte order: addresses and masks network order, compared as raw words;
 * VNI and ports host order, as in struct pkt. */
#ifndef VXTAP_CAPTURE_H
#define VXTAP_CAPTURE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "account.h"
#include "consts.h"
#include "maps.h"
#include "pkt.h"
#include "vxtap_shared.h"

/* The capture slots, written by Go only. Go sets a slot in two writes
 * (inactive with its filter, then the same with active = 1) and clears it
 * the other way round, so a packet racing a write never reads a filter
 * half old and half new; each slot is its own entry, so setting one never
 * rewrites another's limit count. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CAPTURE_MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct capture_slot);
} capture_slots SEC(".maps");

/* How many capture slots are active (struct capture_ctl), written by Go. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct capture_ctl);
} capture_control SEC(".maps");

/* Per-CPU matched/sent/lost/over_limit counters of each capture slot. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CAPTURE_MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct capture_counters);
} capture_stats SEC(".maps");

/* Per-CPU buffer a capture record is built in (header, then the frame). */
struct capture_buf {
	struct capture_hdr hdr;
	__u8 data[MAX_SNAP_LEN];
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct capture_buf);
} capture_scratch SEC(".maps");

/* Carry the capture types into BTF for bpf2go. */
const struct capture_hdr *btf_anchor_capture_hdr __attribute__((unused));
const enum capture_const *btf_anchor_capture_const __attribute__((unused));
const enum capture_term_kind *btf_anchor_capture_term_kind __attribute__((unused));

/* prefix_match: addr (family fam, 16 bytes network order) lies in the
 * term's masked prefix. */
static __always_inline int prefix_match(const struct capture_term *t, const __u8 *addr, __u8 fam)
{
	const __u32 *a = (const __u32 *)addr, *m = (const __u32 *)t->mask, *v = (const __u32 *)t->addr;

	if (fam != t->family)
		return 0;
	return ((a[0] & m[0]) == v[0]) & ((a[1] & m[1]) == v[1]) &
	       ((a[2] & m[2]) == v[2]) & ((a[3] & m[3]) == v[3]);
}

/* has_ports: the data path keeps ports for TCP and UDP only. */
static __always_inline int has_ports(const struct pkt *p)
{
	return p->key.proto == IPPROTO_TCP || p->key.proto == IPPROTO_UDP;
}

/* capture_term_match: one term against the packet. */
static __always_inline int capture_term_match(const struct capture_term *t, const struct pkt *p)
{
	__u8 proto;

	switch (t->kind) {
	case CAPTURE_TERM_VNI:
		return p->key.vni == t->num;
	case CAPTURE_TERM_ADDR:
		return prefix_match(t, p->key.src, p->key.family) ||
		       prefix_match(t, p->key.dst, p->key.family);
	case CAPTURE_TERM_SRC:
		return prefix_match(t, p->key.src, p->key.family);
	case CAPTURE_TERM_DST:
		return prefix_match(t, p->key.dst, p->key.family);
	case CAPTURE_TERM_MIRROR:
		return prefix_match(t, p->outer_src, p->outer_family);
	case CAPTURE_TERM_PORT:
		return has_ports(p) && (p->key.sport == t->num || p->key.dport == t->num);
	case CAPTURE_TERM_SPORT:
		return has_ports(p) && p->key.sport == t->num;
	case CAPTURE_TERM_DPORT:
		return has_ports(p) && p->key.dport == t->num;
	case CAPTURE_TERM_PROTO:
		proto = p->key.proto;
		return (t->protos[(proto >> 6) & 3] >> (proto & 63)) & 1;
	}
	return 0; /* unknown kind: Go never writes one; match nothing */
}

/* capture_slot_match: every term of an active slot matches. Global: the
 * verifier sees a 0/1 answer, so the slot loop does not multiply paths. */
__noinline int capture_slot_match(const struct capture_slot *s, const struct pkt *p)
{
	__u32 n;

	if (!s || !p || !s->active)
		return 0;
	n = s->nterms;
	/* Bounded by CAPTURE_MAX_TERMS: a filter has at most that many terms. */
	for (__u32 i = 0; i < CAPTURE_MAX_TERMS; i++) {
		if (i >= n)
			break;
		if (!capture_term_match(&s->terms[i], p))
			return 0;
	}
	return 1;
}

/* Which counter of struct capture_counters capture_count bumps. */
enum capture_counter {
	CAPCNT_MATCHED,    /* matched */
	CAPCNT_SENT,       /* sent */
	CAPCNT_LOST,       /* lost */
	CAPCNT_OVER_LIMIT, /* over_limit */
};

/* capture_count: bump one counter of slot i on this CPU. */
static __always_inline void capture_count(__u32 i, enum capture_counter which)
{
	struct capture_counters *c = bpf_map_lookup_elem(&capture_stats, &i);

	if (!c)
		return;
	if (which == CAPCNT_MATCHED)
		c->matched++;
	else if (which == CAPCNT_SENT)
		c->sent++;
	else if (which == CAPCNT_LOST)
		c->lost++;
	else
		c->over_limit++;
}

/* capture_running: any capture slot is active. Inline, so a copy pays a
 * call into capture() only while a capture runs. */
static __always_inline int capture_running(void)
{
	__u32 zero = 0;
	struct capture_ctl *ctl = bpf_map_lookup_elem(&capture_control, &zero);

	return ctl && ctl->nactive;
}

/* capture: send the copy once to every capture whose filter it matches.
 * Global, so the slot loop is verified apart from the data path. */
__noinline int capture(struct xdp_md *ctx, struct pkt *p, __u64 now)
{
	__u32 zero = 0, snap, mask, orig;
	struct capture_buf *b;
	__u64 len; /* 64-bit so the bounds checked are the register passed */

	if (!ctx || !p)
		return 0;
	b = bpf_map_lookup_elem(&capture_scratch, &zero);
	if (!b)
		return 0;
	/* The bitmask and the snap length build up in the scratch record,
	 * not in registers: the verifier then sees one state per slot, not
	 * one per combination of matches. */
	b->hdr.captures = 0;
	b->hdr.cap_len = 0;
	/* Bounded by CAPTURE_MAX_SLOTS: one pass over the slots. */
	for (__u32 i = 0; i < CAPTURE_MAX_SLOTS; i++) {
		__u32 key = i; /* i stays in a register: the verifier knows it */
		struct capture_slot *s = bpf_map_lookup_elem(&capture_slots, &key);

		if (!s || !s->active || !capture_slot_match(s, p))
			continue; /* gen[i] is read only for the bits set */
		b->hdr.gen[i & (CAPTURE_MAX_SLOTS - 1)] = s->gen;
		capture_count(i, CAPCNT_MATCHED);
		if (s->limit && __sync_fetch_and_add(&s->taken, 1) >= s->limit) {
			capture_count(i, CAPCNT_OVER_LIMIT); /* -c reached: the daemon clears the slot */
			continue;
		}
		b->hdr.captures |= 1U << i;
		if (s->snap_len > b->hdr.cap_len)
			b->hdr.cap_len = s->snap_len;
	}
	mask = b->hdr.captures;
	snap = b->hdr.cap_len;
	if (!mask)
		return 0;
	/* What the copy holds of the inner frame bounds what is sent. */
	orig = p->wire_len - p->inner_off;
	len = snap < orig ? snap : orig;
	/* A copy the session truncated (PacketLength) reports the frame's
	 * length as its inner IP header states it, as tcpdump reports a
	 * frame its snap length cut: the pcapng original length. */
	if (p->truncated)
		orig = p->ip_off - p->inner_off + p->ip_len;
	/* Two plain tests after a barrier, so the verifier sees len bounded
	 * in 1..MAX_SNAP_LEN (as in emit_sample). */
	asm volatile("" : "+r"(len));
	if (len > MAX_SNAP_LEN)
		len = MAX_SNAP_LEN;
	asm volatile("" : "+r"(len));
	if (len == 0 || bpf_xdp_load_bytes(ctx, p->inner_off, b->data, len)) {
		len = 0; /* nothing of the frame to send: count it lost */
		goto lost;
	}
	b->hdr.type = EVENT_CAPTURE;
	b->hdr.vni = p->key.vni;
	b->hdr.ts_ns = now;
	b->hdr.orig_len = orig;
	b->hdr.cap_len = len;
	b->hdr.rule = p->rule;
	b->hdr.outer_family = p->outer_family;
	b->hdr.pad[0] = b->hdr.pad[1] = 0;
	__builtin_memcpy(b->hdr.outer_src, p->outer_src, sizeof(b->hdr.outer_src));
	if (rb_output(p, &b->hdr, sizeof(b->hdr) + len) == 0) { /* else counted lost, FLAG_RINGBUF_FULL */
		/* Bounded by CAPTURE_MAX_SLOTS. */
		for (__u32 i = 0; i < CAPTURE_MAX_SLOTS; i++)
			if (mask & (1U << i))
				capture_count(i, CAPCNT_SENT);
		return 1;
	}
lost:
	/* Bounded by CAPTURE_MAX_SLOTS. */
	for (__u32 i = 0; i < CAPTURE_MAX_SLOTS; i++)
		if (mask & (1U << i))
			capture_count(i, CAPCNT_LOST);
	return 0;
}

#endif /* VXTAP_CAPTURE_H */
