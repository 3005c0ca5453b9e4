/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The flow index: flow key -> slot, an open-addressed table of our own in
 * flow_index (an mmapable array of 64-byte struct flow_bucket). A key's
 * entry sits in its home bucket or the next one (wrapping): 30 entries;
 * with both full, a new flow goes to the overflow aggregates, counted.
 * An entry is (slot + 1) | tag << 24, the tag 8 more bits of the key's hash,
 * so a scan reads a slot only when the tag matches.
 *
 * Who writes what: an insert (here, or Go's republish) holds the home
 * bucket's lock, rescans both buckets for the key, and publishes by
 * compare-and-swap of an empty entry (the next bucket's own lock holders
 * may write there too). Removal (Go only) swaps an entry to 0 without the
 * lock: it only makes the key absent. Lookups take no lock. So a key is
 * inserted only under its home bucket's lock, after a rescan: never twice.
 *
 * The lock word says more than who holds it (struct flow_bucket): whether
 * any key of the home bucket ever went to the next one (FLOW_BUCKET_ALONE
 * while none did, so a scan of the next one can be skipped), and how many
 * times the lock was released. An insert that takes the lock with the very
 * word its lockless lookup read before scanning knows no key of the bucket
 * was inserted in between (each insert holds the lock and counts its
 * release), so that scan stands and the rescan is skipped.
 *
 * The hash is seeded (the pinned flow_ctl[FLOW_CTL_SEED], expanded by Go
 * into cfg_flow_hash_key), so inner 5-tuples an attacker picks cannot be
 * aimed at one bucket. loader/flowindex.go is its Go twin. */
#ifndef VXTAP_FLOW_INDEX_H
#define VXTAP_FLOW_INDEX_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "config.h"
#include "maps.h"

#define FLOW_ENTRY_SLOT_MASK ((1U << FLOW_ENTRY_SLOT_BITS) - 1) /* slot index + 1 of an entry */
#define FLOW_LOCK_SPINS 1024 /* tries of a held bucket lock before the packet goes to the overflow, see flow_index_lock */

/* flow_key_eq: two flow keys are equal, as five aligned 64-bit words and a
 * 32-bit one (struct flow_key is 44 bytes, no padding; both keys sit at
 * 8-byte aligned offsets: struct pkt and struct flow_slot start with
 * 64-bit fields and the slot's key is at offset 64). */
static __always_inline int flow_key_eq(const struct flow_key *a, const struct flow_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;
	__u64 diff;

	_Static_assert(sizeof(struct flow_key) == 44, "flow_key is 5 words and a half");
	_Static_assert(__builtin_offsetof(struct flow_slot, key) % 8 == 0, "slot key 8-byte aligned");
	diff = (x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4]) |
	       (((const __u32 *)a)[10] ^ ((const __u32 *)b)[10]);
	return diff == 0;
}

/* nh_word: one NH term: the two 32-bit halves of a key word, each plus its
 * half of the hash key (mod 2^32), multiplied into 64 bits. */
static __always_inline __u64 nh_word(__u64 w, __u64 k)
{
	return (__u64)(__u32)((__u32)w + (__u32)k) * (__u64)(__u32)((__u32)(w >> 32) + (__u32)(k >> 32));
}

/* hash_finish: a multiply-xorshift finisher, so every output bit depends
 * on every input bit (a sum of products leaves its top bits to the high
 * input bits, and its bits in a progression's pattern). */
static __always_inline __u64 hash_finish(__u64 h)
{
	h ^= h >> 32;
	h *= 0x9E3779B97F4A7C15ULL; /* odd: a bijection */
	h ^= h >> 29;
	return h;
}

/* flow_hash: the 64-bit hash of a key that places it in the flow index
 * (bucket and tag), pinned with the table (its seed in flow_ctl). NH
 * over the key's eleven 32-bit words with the secret cfg_flow_hash_key
 * (two keys differing anywhere collide in all 64 bits with probability
 * about 2^-32 over the seed), then hash_finish, so every
 * output bit depends on every input bit (NH alone leaves its top bits to
 * the high words). Six independent multiplies and one more. */
static __always_inline __u64 flow_hash(const struct flow_key *k)
{
	const __u64 *q = (const __u64 *)k;
	__u64 h;

	_Static_assert(sizeof(struct flow_key) == 5 * 8 + 4, "flow_key is 5 words and a half");
	h = nh_word(q[0], cfg_flow_hash_key[0]) + nh_word(q[1], cfg_flow_hash_key[1]) +
	    nh_word(q[2], cfg_flow_hash_key[2]) + nh_word(q[3], cfg_flow_hash_key[3]) +
	    nh_word(q[4], cfg_flow_hash_key[4]) + nh_word(((const __u32 *)k)[10], cfg_flow_hash_key[5]);
	return hash_finish(h);
}

/* fold: a key word with its high half folded into its low one (x ^ x >>
 * 32, a bijection): a difference anywhere in the word shows in its low
 * 32 bits, so a product it enters carries it into the top bits. */
static __always_inline __u64 fold(__u64 x)
{
	return x ^ x >> 32;
}

/* flow_cache_hash: the per-CPU flow cache's hash of a key (its entry: the
 * low FLOW_CACHE_BITS; its tag: the 32 above). Nearly every packet is of
 * a flow the cache holds and needs no other hash, so this one is cheaper
 * than flow_hash: three products of the key's folded 64-bit words plus
 * the secret key (mod 2^64), then hash_finish. Both steps are
 * needed (TestFlowCacheSpreadsFlows, TestFlowCacheSpreadReference): a
 * product's bits depend only on its factors' bits at or below them, so
 * unfolded, keys differing only in the high bytes of their words (an
 * address's last octet, a port: real traffic's differences) crowded into
 * as few as 16 of the 8,192 entries; and without the finisher, keys in
 * an arithmetic progression (one octet counting up) crowded into a few
 * dozen for some seeds (a multiplier near a fraction of small
 * denominator). Seeded: keys cannot be aimed at one entry without the
 * seed. A collision costs a flow_index lookup (the entry's slot holds
 * another key, which cached_slot compares), never a count. */
static __always_inline __u64 flow_cache_hash(const struct flow_key *k)
{
	const __u64 *q = (const __u64 *)k;
	__u64 h;

	h = (fold(q[0]) + cfg_flow_hash_key[0]) * (fold(q[1]) + cfg_flow_hash_key[1]) +
	    (fold(q[2]) + cfg_flow_hash_key[2]) * (fold(q[3]) + cfg_flow_hash_key[3]) +
	    (fold(q[4]) + cfg_flow_hash_key[4]) * (((const __u32 *)k)[10] + cfg_flow_hash_key[5]);
	return hash_finish(h);
}

/* flow_home: the key's home bucket: the hash's top 32 bits scaled to
 * cfg_flow_buckets (multiply-shift: no power of two needed). */
static __always_inline __u32 flow_home(__u64 h)
{
	return ((h >> 32) * (__u64)cfg_flow_buckets) >> 32;
}

/* flow_tag: the 8 hash bits an entry keeps beside its slot (bits 24..31:
 * not the ones flow_home uses). */
static __always_inline __u32 flow_tag(__u64 h)
{
	return (__u32)(h >> 24) & 0xff;
}

/* flow_next: the bucket after b, wrapping. */
static __always_inline __u32 flow_next(__u32 b)
{
	return b + 1 >= cfg_flow_buckets ? 0 : b + 1;
}

/* flow_bucket_match: bit i set for each entry i of bucket b that holds
 * tag; *room 1 when b has an empty entry now (another inserter may still
 * take it before us: flow_bucket_publish says for sure). Branch-free:
 * whether an entry is empty or carries the tag is random, so a test per
 * entry is a likely misprediction; a new flow scans two buckets twice
 * (lockless, then under the lock), and its rescan with the room tests
 * went from about 80 to 43 ns (BPF_PROG_TEST_RUN, timed inside the
 * program). Each entry is read once; the caller reads a candidate again
 * before using it (it may have been removed since). */
static __always_inline __u32 flow_bucket_match(struct flow_bucket *b, __u32 tag, __u32 *room)
{
	__u64 want = (__u64)tag << FLOW_ENTRY_SLOT_BITS, e, z, m, empty = 0;
	__u32 mask = 0;

	/* Bounded by FLOW_BUCKET_ENTRIES: arithmetic per entry, unrolled. */
#pragma unroll
	for (int i = 0; i < FLOW_BUCKET_ENTRIES; i++) {
		e = *(volatile __u32 *)&b->ent[i];
		z = (e - 1) >> 63; /* 1 iff e == 0: e < 2^32, so only 0 wraps */
		/* 1 iff e's top byte is tag (e ^ want < 2^24) and e is not empty. */
		m = (((e ^ want) - (1ULL << FLOW_ENTRY_SLOT_BITS)) >> 63) & (z ^ 1);
		mask |= (__u32)m << i;
		empty |= z;
		/* Keeps each entry's arithmetic in its step: unordered, the
		 * compiler loads all fifteen first and spills them. */
		asm volatile("" : "+r"(mask), "+r"(empty));
	}
	*room = empty;
	return mask;
}

/* flow_bucket_find: the slot of key among the entries of bucket b that
 * flow_bucket_match named in mask (those holding the key's tag), with
 * its index in *idx; NULL when none holds it. An entry read just before
 * Go removed it still names the flow's slot: Go reads the slot for good
 * only after a grace period, which waits for this run. A slot freed and
 * reused meanwhile holds another key, which the compare rejects. */
static __always_inline struct flow_slot *flow_bucket_find(struct flow_bucket *b, __u32 mask, __u32 tag,
							   const struct flow_key *key, __u32 *idx)
{
	struct flow_slot *s;
	__u32 e, j;

	if (!mask)
		return NULL; /* nearly every new flow: no entry carries the tag */
	/* Bounded by FLOW_BUCKET_ENTRIES: one test per entry, unrolled. */
#pragma unroll
	for (int i = 0; i < FLOW_BUCKET_ENTRIES; i++) {
		if (!(mask & (1U << i)))
			continue;
		e = *(volatile __u32 *)&b->ent[i];
		if (!e || e >> FLOW_ENTRY_SLOT_BITS != tag)
			continue; /* removed (or replaced) since the match */
		j = (e & FLOW_ENTRY_SLOT_MASK) - 1;
		s = bpf_map_lookup_elem(&flow_slots, &j);
		if (s && flow_key_eq(&s->key, key)) {
			*idx = j;
			return s;
		}
	}
	return NULL;
}

/* flow_bucket_lookup: the slot of key in bucket b (its index in *idx),
 * NULL when b does not hold it; *room as flow_bucket_match says. */
static __always_inline struct flow_slot *flow_bucket_lookup(struct flow_bucket *b, __u32 tag,
							     const struct flow_key *key, __u32 *idx, __u32 *room)
{
	return flow_bucket_find(b, flow_bucket_match(b, tag, room), tag, key, idx);
}

#define FLOW_ROOM_HOME 1 /* flow_look.room: the home bucket had an empty entry */
#define FLOW_ROOM_NEXT 2 /* flow_look.room: the next bucket had one, or was not scanned */

/* flow_look: what a lookup that missed saw, for the insert after it. */
struct flow_look {
	__u32 word; /* the home bucket's lock word, read before its scan */
	__u32 room; /* FLOW_ROOM_HOME | FLOW_ROOM_NEXT */
};

/* flow_index_find: the slot of key (hash h) in flow_index, NULL when
 * absent: the home bucket, then the next (a removal leaves holes, so a
 * home bucket with room says nothing about the next one) unless no key
 * of the home bucket ever went there (FLOW_BUCKET_ALONE). On a miss,
 * *look says what the scan saw. The lock word is read before the
 * entries: x86 keeps loads in order; elsewhere new_flow does not trust
 * the scan and rescans (cfg_weak_order). */
static __always_inline struct flow_slot *flow_index_find(const struct flow_key *key, __u64 h, __u32 *idx,
							  struct flow_look *look)
{
	__u32 hb = flow_home(h), nb = flow_next(hb), tag = flow_tag(h);
	struct flow_bucket *b = bpf_map_lookup_elem(&flow_index, &hb);
	struct flow_slot *s;
	__u32 room;

	look->word = FLOW_LOCK_HELD; /* no lock word read: new_flow rescans */
	look->room = FLOW_ROOM_HOME | FLOW_ROOM_NEXT;
	if (!b)
		return NULL; /* not reached: hb < cfg_flow_buckets, the array's size */
	look->word = *(volatile __u32 *)&b->lock;
	s = flow_bucket_lookup(b, tag, key, idx, &room);
	if (s)
		return s;
	look->room = room ? FLOW_ROOM_HOME : 0;
	if (look->word & FLOW_BUCKET_ALONE) {
		look->room |= FLOW_ROOM_NEXT; /* not scanned: the publish will say */
		return NULL;
	}
	b = bpf_map_lookup_elem(&flow_index, &nb);
	if (!b)
		return NULL;
	s = flow_bucket_lookup(b, tag, key, idx, &room);
	if (room)
		look->room |= FLOW_ROOM_NEXT;
	return s;
}

/* flow_lock_wait: what the spin on a held lock works on (bpf_loop's context). */
struct flow_lock_wait {
	struct flow_bucket *b; /* the bucket whose lock is wanted */
	__u32 word;            /* the lock word as this CPU took it, 0 until then */
};

/* flow_lock_take: bucket b's lock, when its word (read just before) is
 * free: one compare-and-swap from it. Returns the word as taken (the
 * holder bits set), 0 when not taken. */
static __always_inline __u32 flow_lock_take(struct flow_bucket *b, __u32 word)
{
	if (word & FLOW_LOCK_HELD)
		return 0;
	if (__sync_val_compare_and_swap(&b->lock, word, word | FLOW_LOCK_BPF) != word)
		return 0;
	return word | FLOW_LOCK_BPF;
}

/* flow_lock_try: one read of the lock word, and a compare-and-swap when it
 * looks free. bpf_loop callback: 1 stops the loop. */
static long flow_lock_try(__u64 i, void *ctx)
{
	struct flow_lock_wait *w = ctx;

	w->word = flow_lock_take(w->b, *(volatile __u32 *)&w->b->lock);
	return w->word != 0;
}

/* flow_index_lock: take bucket b's lock: one compare-and-swap, and when
 * another holds it, up to FLOW_LOCK_SPINS more tries in bpf_loop (one
 * callback the verifier checks once, where an open loop is walked once
 * per try). Bounded: a holder's critical section (a rescan, a slot
 * claimed and filled, an entry swapped in) is a few cache misses, well
 * under the spins' 4.4 µs (measured); an open loop of 256 reads (about
 * 0.3 µs) lost the race to a busy holder on 7% of contended keys. A lock
 * held longer than that has a preempted holder (Go's republish): waiting
 * for it would stall the NIC queue, so the caller sends the packet to the
 * overflow aggregates, counted and exact. Returns the lock word as taken
 * (only the holder changes it until flow_index_unlock), 0 when not taken. */
static __always_inline __u32 flow_index_lock(struct flow_bucket *b)
{
	struct flow_lock_wait w = { .b = b };

	w.word = flow_lock_take(b, *(volatile __u32 *)&b->lock);
	if (w.word)
		return w.word;
	bpf_loop(FLOW_LOCK_SPINS, flow_lock_try, &w, 0);
	return w.word;
}

/* flow_index_unlock: release b's lock taken as word (the holder clears
 * FLOW_BUCKET_ALONE in it when it put a key in the next bucket), counting
 * the release, so that every CPU sees the entry published under the lock
 * before the release. On x86 a plain store does (stores are not reordered
 * with earlier stores or loads), without the exchange's locked cycle, a
 * few percent of a new flow (sampled); weakly ordered CPUs (arm64) need
 * the exchange, fully ordered. */
static __always_inline void flow_index_unlock(struct flow_bucket *b, __u32 word)
{
	__u32 v = (word & ~(__u32)FLOW_LOCK_HELD) + FLOW_LOCK_VERSION_ONE;

	if (cfg_weak_order)
		__sync_lock_test_and_set(&b->lock, v);
	else
		*(volatile __u32 *)&b->lock = v;
}

/* flow_bucket_publish: entry e into the first empty entry of b, by
 * compare-and-swap (the lock holder of the bucket before b writes b's
 * entries too). Returns 1 when placed. */
static __always_inline int flow_bucket_publish(struct flow_bucket *b, __u32 e)
{
	/* Bounded by FLOW_BUCKET_ENTRIES: one try per entry, unrolled. */
#pragma unroll
	for (int i = 0; i < FLOW_BUCKET_ENTRIES; i++)
		if (*(volatile __u32 *)&b->ent[i] == 0 && __sync_val_compare_and_swap(&b->ent[i], 0, e) == 0)
			return 1;
	return 0;
}

#endif /* VXTAP_FLOW_INDEX_H */
