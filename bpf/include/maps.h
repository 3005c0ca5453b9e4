/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Maps of the data path. Sizes marked "set from Go" are overridden in the
 * spec before load. All maps carry BTF so bpftool prints named fields. */
#ifndef VXTAP_MAPS_H
#define VXTAP_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "consts.h"
#include "vxtap_shared.h"

/* One-way inner flows: flow key -> index of its slot in flow_slots, an
 * open-addressed table of our own (flow_index.h) in cache-line buckets,
 * mmapped by Go, which removes flows from it without a syscall. No LRU: Go
 * removes idle flows (it must read their last counts anyway), and a full
 * table refuses new flows, counted. Buckets set from Go (cfg_flow_buckets). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8739);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct flow_bucket);
} flow_index SEC(".maps");

/* The flows' counters, one slot each, mmapped by Go. Size set from Go
 * (cfg_flow_max). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct flow_slot);
} flow_slots SEC(".maps");

/* Counts of a flow from CPUs other than its slot's owner (struct
 * flow_shared_counts, flow_slots' index), mmapped by Go, which reads an
 * entry only when its slot has FLOW_MARK_SHARED. Size set from Go
 * (cfg_flow_max). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct flow_shared_counts);
} flow_shared SEC(".maps");

/* Slots Go gave back after removing their flows (pushed after an RCU grace
 * period, so no program still writes them). Size set from Go. */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 65536);
	__type(value, __u32);
} flow_free SEC(".maps");

/* Pushes to and pops from flow_free, so claim_slot skips the pop (a
 * helper call and a lock) while nothing was given back. Mmapped by Go. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct free_hint);
} flow_free_hint SEC(".maps");

/* Counters by terminal reason (0..REASON__MAX-1) then by flag. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, REASON__MAX + FLAG__MAX);
	__type(key, __u32);
	__type(value, struct counter);
} counters SEC(".maps");

/* Totals per VNI; LRU so garbage VNIs cannot fill it for good. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct vni_counters);
} vni_stats SEC(".maps");

/* Flow starts/ends and packet samples to userspace. Size set from Go. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 23);
} events SEC(".maps");

/* Slot allocation of the flow table, see FLOW_CTL_*. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FLOW_CTL_MAX);
	__type(key, __u32);
	__type(value, __u64);
} flow_ctl SEC(".maps");

/* What flow records already carried, per flow: written by Go only, pinned,
 * so a restarted daemon carries on without counting twice. Size set from Go. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct ledger_entry);
} flow_ledger SEC(".maps");

/* What overflow records already carried, per aggregate of the half Go
 * exports: written by Go only, pinned, so a restarted daemon neither loses
 * nor repeats one. Size set from Go. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384 + 4096 + 2);
	__type(key, struct overflow_ledger_key);
	__type(value, struct ledger_entry);
} overflow_ledger SEC(".maps");

/* Packet clock for offline analysis (cfg_offline_clock): unix ns, set per packet. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} clock SEC(".maps");

/* One flow cache entry: the slot of the flow last seen with this entry's
 * hash, and more bits of that hash, so a new flow rarely reads another
 * flow's (cold) slot to find it is not its own. */
struct flow_cache_entry {
	__u32 slot; /* flow_slots index + 1, 0 = empty */
	__u32 tag;  /* hash bits the entry's index does not use */
};

/* Per-CPU flow cache in front of flow_index (account.h): a hash of the
 * flow key -> its slot, direct-mapped. Only a hint: a hit counts only when
 * the slot is LIVE and holds the same key. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FLOW_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct flow_cache_entry);
} flow_cache SEC(".maps");

/* Per-CPU clock cache (clock_ns in account.h): the coarse clock as read
 * at one jiffy, reused until jiffies move. */
struct clock_cache {
	__u64 jiffies; /* jiffies64 when ns was read */
	__u64 ns;      /* bpf_ktime_get_coarse_ns at that jiffy */
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct clock_cache);
} clock_cache SEC(".maps");

/* Trusted outer sources (allowed_sources, value unused), both families in
 * one trie. Read only when cfg_source_check is set. Size set from Go. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct source_lpm_key);
	__type(value, __u8);
} allowed_sources SEC(".maps");

/* Refused outer sources -> packets/bytes (per CPU); LRU, so a flood of
 * spoofed sources keeps the busiest and the map bounded. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct offender_key);
	__type(value, struct counter);
} offenders SEC(".maps");

/* Copies of flows that found no slot, by {gen, VNI, destination, protocol,
 * destination port}. Plain hash, never LRU: a count is never dropped. Go
 * drains the half the data path is not adding to. Size set from Go. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct overflow_key);
	__type(value, struct overflow_val);
} overflow_flows SEC(".maps");

/* Per-VNI catch-all when overflow_flows is full. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct overflow_vni_key);
	__type(value, struct overflow_val);
} overflow_vnis SEC(".maps");

/* Last resort when overflow_vnis is full too: one aggregate per half (index gen). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct overflow_val);
} overflow_all SEC(".maps");

/* Per-CPU scratch: the 1-in-N sample countdown and a sample being built. */
struct scratch {
	__u32 sample_countdown;
	__u32 pad;
	struct sample_hdr hdr;
	__u8 data[MAX_SNAP_LEN];
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* Ring buffer records have no map type to carry them into BTF; these
 * anchors do, so bpf2go can generate their Go side. */
const struct flow_event *btf_anchor_flow_event __attribute__((unused));
const struct sample_hdr *btf_anchor_sample_hdr __attribute__((unused));
const enum vxtap_event_type *btf_anchor_event_type __attribute__((unused));
const enum vxtap_flag *btf_anchor_flag __attribute__((unused));
const enum vxtap_reason *btf_anchor_reason __attribute__((unused));
const enum flow_slot_state *btf_anchor_slot_state __attribute__((unused));
const struct free_hint *btf_anchor_free_hint __attribute__((unused));
const struct flow_bucket *btf_anchor_flow_bucket __attribute__((unused));
const enum flow_dir *btf_anchor_flow_dir __attribute__((unused));
const enum vxtap_const *btf_anchor_const __attribute__((unused));

#endif /* VXTAP_MAPS_H */
