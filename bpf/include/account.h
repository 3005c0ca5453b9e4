/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Flow accounting, counters and ring buffer records. */
#ifndef VXTAP_ACCOUNT_H
#define VXTAP_ACCOUNT_H

#include <linux/bpf.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include "config.h"
#include "maps.h"
#include "pkt.h"

/* clock_ns: the program's clock. Live: CLOCK_MONOTONIC at jiffy resolution,
 * cheap and plenty for flow timeouts (Go converts to wall time). Offline:
 * the capture's timestamp, put in the clock map before each packet. */
static __always_inline __u64 clock_ns(void)
{
	if (cfg_offline_clock) {
		__u32 zero = 0;
		__u64 *t = bpf_map_lookup_elem(&clock, &zero);

		return t ? *t : 0;
	}
	return bpf_ktime_get_coarse_ns();
}

/* count: add one packet of wire_len bytes to counter idx. */
static __always_inline void count(__u32 idx, __u64 wire_len)
{
	struct counter *c = bpf_map_lookup_elem(&counters, &idx);

	if (c) {
		c->packets++;
		c->bytes += wire_len;
	}
}

/* count_flags: one count per flag set on the packet. */
static __always_inline void count_flags(struct pkt *p)
{
	if (!p->flags)
		return;
	/* Bounded by FLAG__MAX (a dozen): one test per known flag. */
#pragma unroll
	for (__u32 f = 0; f < FLAG__MAX; f++)
		if (p->flags & (1U << f))
			count(REASON__MAX + f, p->wire_len);
}

/* Consumer position at the last forced wakeup (racy across CPUs on
 * purpose: the worst case is one extra wakeup). */
__u64 rb_forced_cons = 0;

/* rb_flags: submit without waking the reader (it polls with a deadline,
 * and a wakeup per record costs a large share of throughput), except once
 * per reader position when more than cfg_rb_wakeup_bytes are queued: one
 * forced wakeup per batch, not one per record past the threshold (each is
 * an irq_work, microseconds under virtualisation). */
static __always_inline __u64 rb_flags(struct pkt *p)
{
	__u64 cons;

	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) < cfg_rb_wakeup_bytes)
		return BPF_RB_NO_WAKEUP;
	cons = bpf_ringbuf_query(&events, BPF_RB_CONS_POS);
	if (cons == rb_forced_cons)
		return BPF_RB_NO_WAKEUP; /* already woken at this position */
	rb_forced_cons = cons;
	pkt_flag(p, FLAG_RB_WAKEUP);
	return BPF_RB_FORCE_WAKEUP;
}

/* emit_flow_event: a flow-start or flow-end record. */
static __always_inline void emit_flow_event(struct pkt *p, __u32 type, __u64 now)
{
	struct flow_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);

	if (!ev) {
		pkt_flag(p, FLAG_RINGBUF_FULL);
		return;
	}
	ev->type = type;
	ev->tcp_flags = p->tcp_flags;
	ev->outer_family = p->outer_family;
	ev->pad = 0;
	ev->ts_ns = now;
	__builtin_memcpy(&ev->key, &p->key, sizeof(ev->key));
	__builtin_memcpy(ev->outer_src, p->outer_src, sizeof(ev->outer_src));
	pkt_flag(p, type == EVENT_FLOW_START ? FLAG_FLOW_START : FLAG_FLOW_END);
	bpf_ringbuf_submit(ev, rb_flags(p));
}

/* emit_sample: up to the snap length (the session's, else cfg_snap_len)
 * of the inner frame, copied with
 * bpf_xdp_load_bytes so it works across the fragments of a jumbo frame. */
static __always_inline void emit_sample(struct xdp_md *ctx, struct pkt *p, __u64 now)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	__u64 len; /* 64-bit so the bounds checked are the register passed */
	__u32 orig;

	if (!s)
		return;
	orig = p->wire_len - p->inner_off;
	len = cfg_snap_len;
	if (p->snap_len && p->snap_len < len)
		len = p->snap_len; /* the filter session's own snap length */
	if (orig < len)
		len = orig;
	/* Two plain tests after a barrier, so the verifier sees len bounded
	 * in 1..MAX_SNAP_LEN rather than a folded range check. */
	asm volatile("" : "+r"(len));
	if (len > MAX_SNAP_LEN)
		return;
	asm volatile("" : "+r"(len));
	if (len == 0)
		return;
	if (bpf_xdp_load_bytes(ctx, p->inner_off, s->data, len))
		return;
	s->hdr.type = EVENT_SAMPLE;
	s->hdr.vni = p->key.vni;
	s->hdr.ts_ns = now;
	s->hdr.orig_len = orig;
	s->hdr.cap_len = len;
	s->hdr.rule = p->sample_rule;
	s->hdr.pad = 0;
	if (bpf_ringbuf_output(&events, &s->hdr, sizeof(s->hdr) + len, rb_flags(p))) {
		pkt_flag(p, FLAG_RINGBUF_FULL);
		return;
	}
	pkt_flag(p, FLAG_SAMPLED);
}

/* sample_due: deterministic 1-in-rate countdown per CPU. */
static __always_inline int sample_due(__u32 rate)
{
	__u32 zero = 0;
	struct scratch *s;

	if (!rate)
		return 0;
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	if (s->sample_countdown > 1) {
		s->sample_countdown--;
		return 0;
	}
	s->sample_countdown = rate;
	return 1;
}

/* note_new_flow: occupancy bookkeeping. An insert while inserted - deleted -
 * evicted has reached the table size made the LRU evict another flow. */
static __always_inline void note_new_flow(struct pkt *p)
{
	__u32 k_ins = FLOW_CTL_INSERTED, k_ev = FLOW_CTL_EVICTED, k_del = FLOW_CTL_DELETED;
	__u64 *ins = bpf_map_lookup_elem(&flow_ctl, &k_ins);
	__u64 *ev = bpf_map_lookup_elem(&flow_ctl, &k_ev);
	__u64 *del = bpf_map_lookup_elem(&flow_ctl, &k_del);
	__u64 live;

	if (!ins || !ev || !del)
		return;
	live = __sync_fetch_and_add(ins, 1) - *ev - *del;
	if (live >= cfg_flow_max) {
		__sync_fetch_and_add(ev, 1);
		pkt_flag(p, FLAG_FLOW_EVICT);
	}
}

/* account: add the packet to its flow, creating the flow on first sight.
 * Returns the terminal reason. */
static __always_inline int account(struct pkt *p, __u64 now)
{
	struct flow_value *v = bpf_map_lookup_elem(&flows, &p->key);

	if (!v) {
		struct flow_value nv = {
			.packets = 1,
			.bytes = p->ip_len,
			.first_ns = now,
			.last_ns = now,
			.outer_family = p->outer_family,
			.tcp_flags = p->tcp_flags,
			.end_seen = !!(p->tcp_flags & (TCPF_BYTE_FIN | TCPF_BYTE_RST)),
		};
		long err;

		__builtin_memcpy(nv.outer_src, p->outer_src, sizeof(nv.outer_src));
		err = bpf_map_update_elem(&flows, &p->key, &nv, BPF_NOEXIST);
		if (err == 0) {
			note_new_flow(p);
			emit_flow_event(p, EVENT_FLOW_START, now);
			if (p->tcp_flags & (TCPF_BYTE_FIN | TCPF_BYTE_RST))
				emit_flow_event(p, EVENT_FLOW_END, now);
			return REASON_FLOW;
		}
		/* Another CPU created it first: add to our slot of that entry. */
		if (err != -EEXIST)
			return REASON_FLOW_INSERT_FAILED;
		v = bpf_map_lookup_elem(&flows, &p->key);
		if (!v)
			return REASON_FLOW_INSERT_FAILED;
	}
	if (v->packets == 0) { /* first packet of this flow on this CPU */
		v->first_ns = now;
		v->outer_family = p->outer_family;
		__builtin_memcpy(v->outer_src, p->outer_src, sizeof(v->outer_src));
	}
	v->packets++;
	v->bytes += p->ip_len;
	v->last_ns = now;
	v->tcp_flags |= p->tcp_flags;
	if ((p->tcp_flags & (TCPF_BYTE_FIN | TCPF_BYTE_RST)) && !v->end_seen) {
		v->end_seen = 1;
		emit_flow_event(p, EVENT_FLOW_END, now);
	}
	return REASON_FLOW;
}

/* note_vni: per-VNI counts of the copies that make no flow. */
static __always_inline void note_vni(__u32 vni, int reason)
{
	struct vni_counters *vs = bpf_map_lookup_elem(&vni_stats, &vni);

	if (!vs) {
		struct vni_counters zero = {};

		bpf_map_update_elem(&vni_stats, &vni, &zero, BPF_NOEXIST);
		vs = bpf_map_lookup_elem(&vni_stats, &vni);
		if (!vs)
			return;
	}
	if (reason == REASON_NON_IP)
		vs->non_ip++;
	else if (reason == REASON_FILTER_REJECT)
		vs->rejected++;
	else
		vs->malformed++;
}

#endif /* VXTAP_ACCOUNT_H */
