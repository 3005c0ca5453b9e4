// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The live benchmark's flow-floor receiver: touch's parse, then the least
 * an exact per-flow table pays per packet: one hash of the key, one
 * 64-byte line of this CPU's region of a direct-mapped table, a compare
 * of the 44-byte key the line holds, two plain adds. No collision
 * handling: a copy whose line another flow holds is counted apart (in the
 * total, not in a flow), so it is a floor of cost, not an analyzer.
 * Multi-buffer aware (xdp.frags) as vxtap's program is. */
#include "live_flow.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The table's shape, shared with Go (bpf2go -type floor_const). */
enum floor_const {
	FLOOR_BITS = 13,                /* lines per CPU, log2: as many as vxtap's per-CPU flow cache */
	FLOOR_LINES = 1 << FLOOR_BITS,  /* lines per CPU */
	FLOOR_MAX_CPUS = 64,            /* CPUs with a region (Go sizes the table to the possible CPUs, at most this) */
};

/* Puts enum floor_const in the object's BTF, for bpf2go. */
const enum floor_const *btf_anchor_floor __attribute__((unused));

/* One line of the table: a flow and its counts, 64 bytes. */
struct floor_line {
	struct live_flow_key key;       /* the flow holding the line; packets == 0: none yet */
	__u32 pad;                      /* counts 8-byte aligned: the line is 64 bytes */
	struct live_flow_counts counts; /* its copies on this CPU */
};

/* The table: FLOOR_LINES lines per CPU, CPU n's region from line n *
 * FLOOR_LINES, so each CPU adds to its own lines with plain adds. A plain
 * array, not a per-CPU one: one load less per lookup (no per-CPU pointer
 * table). Mmapable only for its placement: an mmapable array's values
 * start on a page, so each line is one cache line (a plain array's values
 * start 312 bytes into struct bpf_array on this kernel, and every 64-byte
 * value straddled two lines). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, FLOOR_LINES); /* Go sets possible CPUs x FLOOR_LINES */
	__type(key, __u32);
	__type(value, struct floor_line);
} floor_lines SEC(".maps");

/* Frames that made no flow, and copies counted apart (struct
 * live_flow_stats): one slot. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct live_flow_stats);
} floor_stats SEC(".maps");

/* fold: a 64-bit word with its high half folded into its low half. */
static __always_inline __u64 fold(__u64 x)
{
	return x ^ x >> 32;
}

/* floor_hash: the key's five 64-bit words and its last 32 bits, the
 * words folded (so a difference in any byte reaches the low half), each
 * times its own odd constant, summed; the line is the top FLOOR_BITS bits,
 * which every bit of every product reaches. */
static __always_inline __u32 floor_hash(const struct live_flow_key *k)
{
	const __u64 *w = (const __u64 *)k;
	__u64 h;

	h = fold(w[0]) * 0x9e3779b97f4a7c15ULL + fold(w[1]) * 0xc2b2ae3d27d4eb4fULL +
	    fold(w[2]) * 0x165667b19e3779f9ULL + fold(w[3]) * 0xd6e8feb86659fd93ULL +
	    fold(w[4]) * 0xff51afd7ed558ccdULL + (__u64)k->dst[3] * 0xc4ceb9fe1a85ec53ULL;
	return h >> (64 - FLOOR_BITS);
}

/* key_eq: two flow keys (44 bytes), 8 bytes at a time and the last 4. */
static __always_inline int key_eq(const struct live_flow_key *a, const struct live_flow_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return !((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4]) |
		 (a->dst[3] ^ b->dst[3]));
}

SEC("xdp.frags")
int live_flow_floor(struct xdp_md *ctx)
{
	struct live_flow_stats *st;
	struct live_flow_key k;
	struct floor_line *l;
	__u32 zero = 0, len = 0, idx, cpu;

	st = bpf_map_lookup_elem(&floor_stats, &zero);
	if (!st)
		return XDP_DROP;
	if (parse_flow(ctx, &k, &len)) {
		st->other++;
		return XDP_DROP;
	}
	cpu = bpf_get_smp_processor_id(); /* inlined by the verifier (x86-64, 6.10 on) */
	if (cpu >= FLOOR_MAX_CPUS) { /* no region: sharing another CPU's would race its plain adds */
		st->apart++;
		return XDP_DROP;
	}
	idx = cpu * FLOOR_LINES + floor_hash(&k);
	l = bpf_map_lookup_elem(&floor_lines, &idx);
	if (!l) { /* not reached: Go sizes a region for every possible CPU below FLOOR_MAX_CPUS */
		st->apart++;
		return XDP_DROP;
	}
	if (l->counts.packets == 0) {
		/* The line's first flow. Plain stores: only this CPU writes
		 * its region, and XDP never runs twice at once on one CPU. */
		__builtin_memcpy(&l->key, &k, sizeof(k));
		l->counts.packets = 1;
		l->counts.bytes = len;
		return XDP_DROP;
	}
	if (!key_eq(&l->key, &k)) {
		st->apart++;
		return XDP_DROP;
	}
	l->counts.packets++;
	l->counts.bytes += len;
	return XDP_DROP;
}
