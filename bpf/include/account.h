/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Flow accounting, counters and ring buffer records. */
#ifndef VXTAP_ACCOUNT_H
#define VXTAP_ACCOUNT_H

#include <linux/bpf.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include "config.h"
#include "filter_lookup.h"
#include "flow_index.h"
#include "maps.h"
#include "overflow.h"
#include "pkt.h"

/* clock_ns: the program's clock. Live: CLOCK_MONOTONIC at tick resolution
 * (bpf_ktime_get_coarse_ns; Go converts to wall time). The helper call is
 * dear on the hot path (every RET is costly under SRSO/retpoline
 * mitigations), while bpf_jiffies64 and a per-CPU array lookup are inlined
 * by the verifier: so each CPU reads the coarse clock once per jiffy and
 * reuses the reading until jiffies move. The coarse clock only moves in the
 * timekeeping update that follows a jiffies increment, so the reuse returns
 * what the helper would; a reading taken between the two (jiffies moved,
 * the clock not yet) is not kept, and the next packet reads again. Records
 * carry the same times as with the helper: tick resolution (4 ms at
 * HZ=250). Offline: the capture's timestamp, put in the clock map before
 * each packet. */
static __always_inline __u64 clock_ns(void)
{
	__u32 zero = 0;
	struct clock_cache *cc;
	__u64 j;

	if (cfg_offline_clock) {
		__u64 *t = bpf_map_lookup_elem(&clock, &zero);

		return t ? *t : 0;
	}
	j = bpf_jiffies64();
	cc = bpf_map_lookup_elem(&clock_cache, &zero);
	if (!cc)
		return bpf_ktime_get_coarse_ns(); /* not reached: the array has entry 0 */
	if (cc->jiffies != j) {
		__u64 t = bpf_ktime_get_coarse_ns();

		if (t != cc->ns) { /* else the clock has not moved with jiffies yet */
			cc->ns = t;
			cc->jiffies = j;
		}
		return t;
	}
	return cc->ns;
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

/* flag_index: the index of the lowest flag set in flags != 0. BPF has no
 * count-trailing-zeros; the popcount of the bits below the lowest set one
 * is plain arithmetic (as filter_ctz in classify.h). */
static __always_inline __u32 flag_index(__u32 flags)
{
	return __builtin_popcount((flags & -flags) - 1);
}

/* flags_count: one count per flag in flags (two or more). Global, so the
 * verifier walks it once instead of once per combination of flags the
 * paths before it can set. */
__noinline int flags_count(__u32 flags, __u64 wire_len)
{
	/* Bounded by FLAG__MAX: each pass counts and clears the lowest flag
	 * set, and no more flags than that exist. Set flags only: a test per
	 * known flag cost about 50 ns a packet (a new flow's, timed inside
	 * the program). */
	for (int i = 0; i < FLAG__MAX && flags; i++) {
		count(REASON__MAX + flag_index(flags), wire_len);
		flags &= flags - 1;
	}
	return 0;
}

/* count_flags: one count per flag set on the packet. Most packets set
 * none and pay one test; one flag (a session's PacketLength truncates
 * every copy: FLAG_TRUNCATED) is counted inline, without the call and its
 * RET. */
static __always_inline void count_flags(struct pkt *p)
{
	__u32 f = p->flags;

	if (!f)
		return;
	if (!(f & (f - 1)))
		count(REASON__MAX + flag_index(f), p->wire_len);
	else
		flags_count(f, p->wire_len);
}

/* Reader (consumer) position of the last forced wakeup, plus one, so the
 * reader's first position (0) is not taken for one already woken; 0: none
 * yet. Racy across CPUs on purpose: the worst case is one extra wakeup. */
__u64 rb_forced_cons = 0;

/* rb_flags: submit without waking the reader (it polls with a deadline,
 * and a wakeup per record costs a large share of throughput), except once
 * per reader position when more than cfg_rb_wakeup_bytes are queued: one
 * forced wakeup per batch, not one per record past the threshold (each is
 * an irq_work, microseconds under virtualisation). *cons is the reader
 * position a forced wakeup is for: rb_sent notes it once the record is in
 * (a record the ring refuses wakes no one). */
static __always_inline __u64 rb_flags(__u64 *cons)
{
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) < cfg_rb_wakeup_bytes)
		return BPF_RB_NO_WAKEUP;
	*cons = bpf_ringbuf_query(&events, BPF_RB_CONS_POS);
	if (*cons + 1 == rb_forced_cons)
		return BPF_RB_NO_WAKEUP; /* already woken at this position */
	return BPF_RB_FORCE_WAKEUP;
}

/* rb_sent: a record went in with flags fl from rb_flags: its forced
 * wakeup, if any, is noted for the reader position and counted. */
static __always_inline void rb_sent(struct pkt *p, __u64 fl, __u64 cons)
{
	if (fl == BPF_RB_FORCE_WAKEUP) {
		rb_forced_cons = cons + 1;
		pkt_flag(p, FLAG_RB_WAKEUP);
	}
}

/* rb_output: size bytes at data as one record, the reader woken as
 * rb_flags says. Returns 0 when sent; a record the ring refuses is
 * counted (FLAG_RINGBUF_FULL). */
static __always_inline long rb_output(struct pkt *p, void *data, __u64 size)
{
	__u64 cons = 0, fl = rb_flags(&cons);

	if (bpf_ringbuf_output(&events, data, size, fl)) {
		pkt_flag(p, FLAG_RINGBUF_FULL);
		return -1;
	}
	rb_sent(p, fl, cons);
	return 0;
}

/* flow_event_count: count a flow event sent (FLAG_FLOW_START or
 * FLAG_FLOW_END). Straight into its counter rather than as a flag of the
 * packet: a flag makes the packet pay flags_count at the end (a call and
 * a test per known flag), which was about 50 of a new flow's ns
 * (BPF_PROG_TEST_RUN, timed inside the program). The threat check reads
 * FLAG_FLOW_START from the packet (detect.h: a hit on the flow's first
 * packet), so with threats on it stays a flag. Either way it is counted
 * once: a packet sends each event at most once. */
static __always_inline void flow_event_count(struct pkt *p, __u32 flag)
{
	if (cfg_threat_enabled)
		pkt_flag(p, flag);
	else
		count(REASON__MAX + flag, p->wire_len);
}

/* emit_flow_event: a flow-start or flow-end record. Returns 1 when sent. */
static __always_inline int emit_flow_event(struct pkt *p, __u32 type, __u64 now)
{
	struct flow_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	__u64 cons = 0, fl;

	if (!ev) {
		pkt_flag(p, FLAG_RINGBUF_FULL);
		return 0;
	}
	ev->type = type;
	ev->tcp_flags = p->tcp_flags;
	ev->outer_family = p->outer_family;
	ev->pad = 0;
	ev->ts_ns = now;
	__builtin_memcpy(&ev->key, &p->key, sizeof(ev->key));
	__builtin_memcpy(ev->outer_src, p->outer_src, sizeof(ev->outer_src));
	flow_event_count(p, type == EVENT_FLOW_START ? FLAG_FLOW_START : FLAG_FLOW_END);
	fl = rb_flags(&cons);
	bpf_ringbuf_submit(ev, fl);
	rb_sent(p, fl, cons);
	return 1;
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
	if (rb_output(p, &s->hdr, sizeof(s->hdr) + len))
		return;
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

/* slot_owner: this CPU as flow_slot.owner names it: id + 1, 0 past 254. */
static __always_inline __u8 slot_owner(void)
{
	__u32 cpu = bpf_get_smp_processor_id(); /* inlined by the verifier (x86-64, 6.10 on) */

	return cpu < 255 ? cpu + 1 : 0;
}

/* slot_shared_add: a packet of a flow whose slot another CPU owns (or no
 * CPU: owner 0) goes to the slot's flow_shared entry, by atomic add. The
 * slot's FLOW_MARK_SHARED, set before the first add (an atomic or, only
 * while unset), tells readers to add the entry in. Out of line: under RSS
 * a flow's copies reach one CPU, so few packets take this path. */
static __noinline int slot_shared_add(struct flow_slot *s, __u32 idx, __u32 ip_len)
{
	struct flow_shared_counts *sh;

	if (!(s->marks & FLOW_MARK_SHARED))
		__sync_fetch_and_or(&s->marks, FLOW_MARK_SHARED);
	sh = bpf_map_lookup_elem(&flow_shared, &idx);
	if (!sh)
		return 0; /* not reached: the same size as flow_slots */
	__sync_fetch_and_add(&sh->packets, 1);
	__sync_fetch_and_add(&sh->bytes, ip_len);
	return 0;
}

/* slot_add: add the packet to a live slot (p->slot names it: every caller
 * sets it first). Several CPUs may update one flow at once. Counters: the
 * slot's owner (the CPU that claimed it) adds with plain adds, two
 * lock-prefixed adds fewer on the common path (10-16 ns a packet); any
 * other CPU adds to the slot's flow_shared entry with atomics. The plain
 * adds are exact because no other CPU writes these two fields and XDP never
 * runs twice at once on one CPU: a driver runs it in NAPI poll (softirq),
 * generic XDP and BPF_PROG_TEST_RUN with bottom halves off, and none of
 * them is entered again on its CPU before the run returns (hard IRQs run
 * no XDP), so the owner's load, add and store cannot interleave with
 * another of its own (the per-CPU counters, count, rely on the same). Each
 * store is one aligned 64-bit store, so a reader never sees half of one.
 * Flags by atomic or (only when they add a flag), the flow-end event by
 * compare-and-swap so exactly one CPU sends it. */
static __always_inline void slot_add(struct flow_slot *s, struct pkt *p, __u64 now)
{
	__u32 f = p->tcp_flags;

	if (s->owner == bpf_get_smp_processor_id() + 1) { /* never for owner 0 */
		s->packets++;
		s->bytes += p->ip_len;
	} else {
		slot_shared_add(s, p->slot - 1, p->ip_len);
	}
	s->last_ns = now;
	if (p->truncated && !s->truncated)
		s->truncated = 1; /* only ever 0 -> 1: a plain store is enough */
	if ((s->tcp_flags & f) != f)
		__sync_fetch_and_or(&s->tcp_flags, f);
	if ((f & (TCPF_BYTE_FIN | TCPF_BYTE_RST)) && !s->end_seen &&
	    __sync_val_compare_and_swap(&s->end_seen, 0, 1) == 0)
		emit_flow_event(p, EVENT_FLOW_END, now);
}

/* shared_zero: zero slot idx's flow_shared entry (the slot is claimed,
 * not yet published: no other CPU adds to it). */
static __always_inline void shared_zero(__u32 idx)
{
	struct flow_shared_counts *sh = bpf_map_lookup_elem(&flow_shared, &idx);

	if (sh) {
		sh->packets = 0;
		sh->bytes = 0;
	}
}

/* pop_free: a slot from flow_free, counted in the hint after the pop. */
static __always_inline int pop_free(struct free_hint *h, __u32 *idx)
{
	if (bpf_map_pop_elem(&flow_free, idx))
		return -1;
	if (h)
		__sync_fetch_and_add(&h->popped, 1);
	return 0;
}

/* claim_slot: a slot for a new flow: one Go gave back, else the next never
 * used one. Returns NULL when the table is full. The pop (a helper call
 * and the queue's lock, dear even on an empty queue) is tried first only
 * while the hint says a slot waits there. The hint lags a push by a moment
 * (each pusher counts after its push), so it may say empty while a slot
 * waits: then a never-used slot is taken instead, and once those run out
 * the pop is always tried. It never hands out a slot itself: the queue
 * does, so no slot is lost or given twice. */
static __always_inline struct flow_slot *claim_slot(__u32 *idx)
{
	__u32 zero = 0, k_next = FLOW_CTL_NEXT;
	struct free_hint *h = bpf_map_lookup_elem(&flow_free_hint, &zero);
	__u64 *next, n;

	if ((!h || (__s64)(*(volatile __u64 *)&h->pushed - *(volatile __u64 *)&h->popped) > 0) &&
	    pop_free(h, idx) == 0)
		return bpf_map_lookup_elem(&flow_slots, idx);
	next = bpf_map_lookup_elem(&flow_ctl, &k_next);
	if (!next)
		return NULL;
	/* Past the end it keeps counting up (harmless): Go reads
	 * min(next, table size). */
	n = __sync_fetch_and_add(next, 1);
	if (n >= cfg_flow_max) {
		if (pop_free(h, idx) == 0) /* the hint lagged a push */
			return bpf_map_lookup_elem(&flow_slots, idx);
		return NULL;
	}
	*idx = n;
	return bpf_map_lookup_elem(&flow_slots, idx);
}

/* give_back: a claimed slot never published, so no other CPU saw it: back
 * to flow_free, counted in the hint after the push. The queue is as big as
 * the table, so the push cannot fail. */
static __always_inline void give_back(struct flow_slot *s, __u32 idx)
{
	s->state = FLOW_SLOT_FREE;
	if (bpf_map_push_elem(&flow_free, &idx, BPF_ANY) == 0) {
		__u32 zero = 0;
		struct free_hint *h = bpf_map_lookup_elem(&flow_free_hint, &zero);

		if (h)
			__sync_fetch_and_add(&h->pushed, 1);
	}
}

/* new_flow: under the home bucket's lock (flow_index.h), look for the key
 * again (another CPU may have inserted it since this one looked: then the
 * packet joins that slot), else claim a slot, fill it and publish it in
 * the home or next bucket. With the lock not to be had, both buckets full
 * or no slot left, the overflow aggregates (overflow.h) take the packet.
 * h is the key's flow_hash, look what flow_index_find saw. Returns the
 * terminal reason. */
static __noinline int new_flow(struct pkt *p, __u64 now, __u64 h, const struct flow_look *look)
{
	/* From the packet, not the slot: once published, another CPU may set
	 * the slot's end_seen and send the flow-end event itself. */
	__u32 end = !!(p->tcp_flags & (TCPF_BYTE_FIN | TCPF_BYTE_RST));
	__u32 hb = flow_home(h), nb = flow_next(hb), tag = flow_tag(h), idx, e;
	__u32 room_home, room_next = FLOW_ROOM_NEXT, word;
	__u8 dir;
	struct flow_bucket *home = bpf_map_lookup_elem(&flow_index, &hb);
	struct flow_bucket *next = bpf_map_lookup_elem(&flow_index, &nb);
	struct flow_slot *s;

	if (!home || !next)
		return overflow_add(p, now); /* not reached: both < cfg_flow_buckets */
	/* Before the lock: it may look up the filter session, a call. */
	dir = flow_direction(p);
	/* The lock taken from the word the lookup read before its scan: no
	 * key of the bucket was inserted since (each insert counts its
	 * release in the word), so that scan stands: no rescan. The scan's
	 * order is only sure where loads stay in order. */
	word = cfg_weak_order ? 0 : flow_lock_take(home, look->word);
	if (word) {
		room_home = look->room & FLOW_ROOM_HOME;
		room_next = look->room & FLOW_ROOM_NEXT;
	} else {
		word = flow_index_lock(home);
		if (!word) {
			pkt_flag(p, FLAG_INDEX_BUSY);
			return overflow_add(p, now);
		}
		s = flow_bucket_lookup(home, tag, &p->key, &idx, &room_home);
		if (!s && !(word & FLOW_BUCKET_ALONE)) /* else no key of home is in next */
			s = flow_bucket_lookup(next, tag, &p->key, &idx, &room_next);
		if (s) { /* another CPU inserted it since this one looked */
			flow_index_unlock(home, word);
			p->slot = idx + 1;
			slot_add(s, p, now);
			return REASON_FLOW;
		}
	}
	if (!room_home && !room_next) {
		flow_index_unlock(home, word);
		pkt_flag(p, FLAG_INDEX_FULL);
		return overflow_add(p, now);
	}
	s = claim_slot(&idx);
	if (!s) {
		flow_index_unlock(home, word);
		return overflow_add(p, now); /* table full: a coarser aggregate takes it */
	}
	s->state = FLOW_SLOT_CLAIMED;
	/* The slot's last use's counts from other CPUs are not this flow's.
	 * Go zeroes them when it frees a slot; this covers a slot freed by a
	 * Go that did not (one older than flow_shared), so no flow inherits
	 * counts whichever version freed its slot. */
	if (s->marks & FLOW_MARK_SHARED)
		shared_zero(idx);
	s->owner = slot_owner();
	s->packets = 1;
	s->bytes = p->ip_len;
	s->first_ns = now;
	s->last_ns = now;
	s->tcp_flags = p->tcp_flags;
	s->end_seen = end;
	s->outer_family = p->outer_family;
	s->direction = dir;
	s->truncated = p->truncated;
	s->rule = p->rule;
	s->marks = 0;
	s->verdict = p->verdict; /* the classifier's decision, for later packets (0: none) */
	__builtin_memcpy(s->outer_src, p->outer_src, sizeof(s->outer_src));
	__builtin_memcpy(&s->key, &p->key, sizeof(s->key));
	/* The entry's compare-and-swap is fully ordered: a CPU that finds the
	 * entry sees the slot filled above. */
	e = (idx + 1) | tag << FLOW_ENTRY_SLOT_BITS;
	if (!flow_bucket_publish(home, e)) {
		/* Home full (the bucket before it spills into it too). */
		if (!flow_bucket_publish(next, e)) {
			/* The next bucket's own inserters took its last room meanwhile. */
			flow_index_unlock(home, word);
			give_back(s, idx);
			pkt_flag(p, FLAG_INDEX_FULL);
			return overflow_add(p, now);
		}
		word &= ~(__u32)FLOW_BUCKET_ALONE; /* a key of home now in next */
	}
	flow_index_unlock(home, word);
	/* Compare-and-swap, not a store: a fully ordered atomic, so on weakly
	 * ordered CPUs (arm64) Go never sees LIVE before the key and counters
	 * written above; and only from CLAIMED, so a removal Go made since the
	 * entry was published (DYING) is not undone: the flow cache would add
	 * to a slot Go is about to read for good. */
	__sync_val_compare_and_swap(&s->state, FLOW_SLOT_CLAIMED, FLOW_SLOT_LIVE);
	p->slot = idx + 1;
	/* A flow whose first packet ends it (FIN or RST: the answers to a
	 * scan, the last half of a teardown) sends one record, not a start
	 * and an end: the start's tcp_flags carry the FIN or RST, and the
	 * reader makes the end of it (loader/events.go). A record costs a
	 * reserve and a submit, each a helper call, on a ring line no CPU
	 * touched lately. Both are counted, as before. */
	if (emit_flow_event(p, EVENT_FLOW_START, now) && end)
		flow_event_count(p, FLAG_FLOW_END);
	return REASON_FLOW;
}

/* cached_slot: the slot the flow cache entry names (slot: its index + 1,
 * read once by the caller), when it is still this
 * flow's: LIVE and holding the same key. Go marks a slot DYING before it
 * waits for the grace period after which it reads the slot for good, so a
 * run that saw LIVE started before that wait and its add is in the read;
 * a slot given back and reused holds another key, or is this flow's again.
 * The key is read after the state (x86 keeps loads in order; elsewhere a
 * fence, an atomic on this CPU's entry, orders them), so a LIVE of a later
 * use of the slot is never paired with the key of an earlier one. */
static __always_inline struct flow_slot *cached_slot(struct flow_cache_entry *ce, __u32 slot, __u32 tag,
						       const struct flow_key *key)
{
	struct flow_slot *s;
	__u32 idx = slot - 1;

	if (!slot || ce->tag != tag)
		return NULL;
	s = bpf_map_lookup_elem(&flow_slots, &idx);
	if (!s || s->state != FLOW_SLOT_LIVE)
		return NULL;
	if (cfg_weak_order) {
		__u32 fence = __sync_fetch_and_add(&ce->tag, 0); /* fully ordered: BPF_FETCH */

		asm volatile("" : : "r"(fence)); /* keeps the fetch (and its ordering) */
	}
	if (!flow_key_eq(&s->key, key))
		return NULL;
	return s;
}

/* flow_probe: a packet's look into the per-CPU flow cache, made before
 * the classifier so a flow's later packets can replay the decision their
 * slot keeps (filter_replay, classify.h). The cache is placed by its own
 * hash (flow_cache_hash); flow_index's (flow_hash) is computed only when
 * the cache does not name the flow. */
struct flow_probe {
	struct flow_cache_entry *ce;  /* this CPU's cache entry for the hash, NULL if none */
	struct flow_slot *s;          /* the flow's slot when the entry names it (cached_slot), else NULL */
	__u32 slot;                   /* s's flow_slots index + 1 */
	__u32 tag;                    /* the hash bits the entry keeps */
};

/* flow_probe_cache: fill f for p's key. */
static __always_inline void flow_probe_cache(struct pkt *p, struct flow_probe *f)
{
	__u64 h = flow_cache_hash(&p->key);
	__u32 ck;

	ck = h & (FLOW_CACHE_SLOTS - 1);
	f->tag = h >> FLOW_CACHE_BITS;
	f->ce = bpf_map_lookup_elem(&flow_cache, &ck);
	f->s = NULL;
	if (f->ce) {
		f->slot = f->ce->slot;
		f->s = cached_slot(f->ce, f->slot, f->tag, &p->key);
	}
}

/* flow_outer_same: the packet came from the mirror source its flow's slot
 * names (the first packet's): a kept verdict holds for it only then, since
 * the direction may hang on the outer source. */
static __always_inline int flow_outer_same(const struct flow_slot *s, const struct pkt *p)
{
	return s->outer_family == p->outer_family && filter_addr_eq(s->outer_src, p->outer_src);
}

/* slot_keep_verdict: a packet classified afresh (a new rule set, or this
 * CPU's cache did not name the flow) leaves its decision in the flow's
 * slot for later packets: one 64-bit store, so a reader never pairs one
 * rule set's generation with another's decision. Only when the packet
 * came from the slot's mirror source, whose decision the slot keeps. */
static __always_inline void slot_keep_verdict(struct flow_slot *s, const struct pkt *p)
{
	if (p->verdict && *(volatile __u64 *)&s->verdict != p->verdict && flow_outer_same(s, p))
		*(volatile __u64 *)&s->verdict = p->verdict;
}

/* account: add the packet to its flow, creating the flow on first sight:
 * the slot flow_probe_cache found (no scan, no call), else flow_index's
 * answer, which refills the cache. p->slot names the flow's slot after.
 * Returns the terminal reason. */
static __always_inline int account(struct pkt *p, __u64 now, struct flow_probe *f)
{
	struct flow_slot *s = f->s;
	struct flow_look look;
	__u32 idx;
	__u64 h;
	int reason;

	if (s) {
		p->slot = f->slot;
		slot_add(s, p, now);
		slot_keep_verdict(s, p);
		return REASON_FLOW;
	}
	h = flow_hash(&p->key);
	s = flow_index_find(&p->key, h, &idx, &look);
	if (!s)
		goto create;
	if (f->ce) {
		f->ce->slot = idx + 1;
		f->ce->tag = f->tag;
	}
	p->slot = idx + 1;
	slot_add(s, p, now);
	slot_keep_verdict(s, p);
	return REASON_FLOW;
create:
	reason = new_flow(p, now, h, &look);
	if (f->ce && p->slot) {
		f->ce->slot = p->slot;
		f->ce->tag = f->tag;
	}
	return reason;
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
