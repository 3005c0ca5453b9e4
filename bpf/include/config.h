/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Runtime switches. volatile const lands in .rodata: Go rewrites the values
 * before load and the verifier then treats them as constants, pruning the
 * branches they turn off. Defaults here are the daemon's defaults. */
#ifndef VXTAP_CONFIG_H
#define VXTAP_CONFIG_H

#include <linux/types.h>

volatile const __u16 cfg_vxlan_port = 4789;      /* outer UDP destination port of VXLAN, host order */
volatile const __u16 cfg_geneve_port = 6081;     /* outer UDP destination port of GENEVE, 0 = off */
volatile const __u8 cfg_pass_mirror = 0;         /* 1: XDP_PASS mirror copies instead of XDP_DROP */
volatile const __u8 cfg_offline_clock = 0;       /* 1: take the clock from the clock map (vxtap analyze) */
volatile const __u8 cfg_filter_enabled = 0;      /* 1: classify inner packets against filter rules */
volatile const __u32 cfg_sample_rate = 0;        /* sample 1 in N accounted packets, 0 = off */
volatile const __u32 cfg_snap_len = 128;         /* bytes of inner frame per sample, <= MAX_SNAP_LEN */
volatile const __u64 cfg_rb_wakeup_bytes = 65536;/* force a reader wakeup once this much is queued */
volatile const __u32 cfg_flow_max = 65536;       /* max_entries of the flows map, for eviction counting */
volatile const __u32 cfg_flow_buckets = 8739;    /* flow_index buckets: ceil(cfg_flow_max * 2 / FLOW_BUCKET_ENTRIES), set from Go */
volatile const __u64 cfg_flow_hash_key[6] = {1, 2, 3, 4, 5, 6}; /* flow hash key (FLOW_HASH_KEY_WORDS), expanded by Go from the pinned seed */
volatile const __u8 cfg_source_check = 0;        /* 1: only outer sources in allowed_sources are trusted */
volatile const __u8 cfg_threat_enabled = 0;      /* 1: check accounted copies against the threats trie (detect.h) */
volatile const __u8 cfg_decap = 0;               /* 1: redirect accepted copies' inner frames to decap_ports (redirect.h) */
volatile const __u8 cfg_decap_frags = 0;         /* 1: the decap targets take multi-buffer frames: jumbo copies go whole */
volatile const __u8 cfg_verdict_cache = 1;       /* 1: a flow's later packets replay the classifier's decision kept in its slot (flow_slot.verdict) */
volatile const __u8 cfg_weak_order = 0;          /* 1: the CPU may reorder loads (arm64...): a fence orders the flow cache's reads */

#endif /* VXTAP_CONFIG_H */
