/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Maps of the filter classifier (include/classify.h). Userspace compiles
 * each direction's rules into per-field tables whose values are bitsets of
 * the rules matching on that field; the kernel ANDs them and takes the
 * lowest bit. Everything is written by loader/filter.go only. Sizes marked
 * "set from Go" follow the configuration (loader.FilterCapacity); the
 * defaults here fit 32 rulesets (16 filters) of a few thousand rules. */
#ifndef VXTAP_FILTER_MAPS_H
#define VXTAP_FILTER_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "vxtap_shared.h"

#define FILTER_BITSET_WORDS 64 /* __u64 words of a bitset: FILTER_MAX_RULES / 64 */
/* The index layout of the tables (FILTER_FIELD_*, FILTER_GENS, ...) is enum
 * filter_layout of vxtap_shared.h, computed by the filter_*_index helpers of
 * filter_lookup.h and, from the same enum, by loader/filter_layout.go. */

/* The active generation (0 or 1): read once per packet. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} filter_gen SEC(".maps");

/* Sessions by {vni, gen}, plus the default session (FILTER_DEFAULT_VNI). Set from Go. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct filter_session_key);
	__type(value, struct filter_session);
} filter_sessions SEC(".maps");

/* The same sessions indexed by gen * FILTER_VNI_STRIDE + (vni &
 * (FILTER_VNI_SLOTS - 1)), the default session's at gen * FILTER_VNI_STRIDE
 * + FILTER_VNI_SLOTS: an array lookup, inlined by the verifier, instead of
 * a hash lookup (a call and its RET) on every packet. Slots several
 * sessions share say so, and those VNIs are looked up in filter_sessions.
 * Every entry of a generation is rewritten when it is filled. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FILTER_GENS * FILTER_VNI_STRIDE);
	__type(key, __u32);
	__type(value, struct filter_vni_slot);
} filter_vni SEC(".maps");

/* Addresses of each session's source ENI (value unused). Set from Go. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct filter_eni_key);
	__type(value, __u8);
} filter_eni SEC(".maps");

/* IPv4 CIDR tables, root node of each: index (ruleset * 2 + gen) * 2 +
 * field. Size = rulesets * 4, set from Go. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 32 * 4);
	__type(key, __u32);
	__type(value, __u32);
} filter_v4root SEC(".maps");

/* IPv4 CIDR table nodes, deduplicated and shared between tables; each
 * generation uses its half. Set from Go. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * 4096);
	__type(key, __u32);
	__type(value, struct filter_v4_node);
} filter_v4node SEC(".maps");

/* IPv6 source and destination CIDRs of every ruleset and generation (a
 * trie: 128-bit strides would make arrays too big). Set from Go. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 2 * 32768);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct filter_lpm6_key);
	__type(value, struct filter_lpm_val);
} filter_lpm6 SEC(".maps");

/* Protocol to bitset: index (ruleset * 2 + gen) * 256 + proto. Size = rulesets * 512, set from Go. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 32 * 2 * 256);
	__type(key, __u32);
	__type(value, __u32);
} filter_proto SEC(".maps");

/* Port tables, first level: index ((ruleset * 2 + gen) * 2 + field) * 256 +
 * port / 256; FILTER_PORT_UNIFORM | bitset, or a filter_port_blk index.
 * Size = rulesets * 1024, set from Go. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 32 * 2 * 2 * 256);
	__type(key, __u32);
	__type(value, __u32);
} filter_port_top SEC(".maps");

/* Port tables, second level: blocks of 256 ports holding a range boundary,
 * shared between tables; each generation uses its half. Set from Go. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * 1024);
	__type(key, __u32);
	__type(value, struct filter_port_block);
} filter_port_blk SEC(".maps");

/* Deduplicated rule bitsets; each generation uses its half. Set from Go. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * 8192);
	__type(key, __u32);
	__type(value, struct filter_bitset);
} filter_bitsets SEC(".maps");

/* Slot to rule: number, action and sampling; each generation uses its half. Set from Go. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * 8192);
	__type(key, __u32);
	__type(value, struct filter_rule);
} filter_rules SEC(".maps");

/* Per-slot hit counters (packets, inner IP bytes), per CPU; pinned, read by
 * metrics and `vxtap filter hits`. Same slots as filter_rules. Set from Go. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * 8192);
	__type(key, __u32);
	__type(value, struct counter);
} rule_hits SEC(".maps");

/* Names of the rulesets for readers of rule_hits: index ruleset * 2 + gen.
 * Never read by the program. Size = rulesets * 2, set from Go. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 32 * 2);
	__type(key, __u32);
	__type(value, struct filter_ruleset_meta);
} filter_rulesets SEC(".maps");

/* The filter enums have no map to carry them into BTF; these anchors do,
 * so bpf2go can generate their Go side. */
const enum filter_action *btf_anchor_filter_action __attribute__((unused));
const enum filter_dir *btf_anchor_filter_dir __attribute__((unused));
const enum filter_mode *btf_anchor_filter_mode __attribute__((unused));
const enum filter_layout *btf_anchor_filter_layout __attribute__((unused));
const enum filter_vni_kind *btf_anchor_filter_vni_kind __attribute__((unused));
const enum filter_unknown *btf_anchor_filter_unknown __attribute__((unused));
const enum filter_slot_kind *btf_anchor_filter_slot_kind __attribute__((unused));
const enum filter_const *btf_anchor_filter_const __attribute__((unused));
const enum filter_verdict *btf_anchor_filter_verdict __attribute__((unused));

#endif /* VXTAP_FILTER_MAPS_H */
