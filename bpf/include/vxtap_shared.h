/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Structs and enums shared by the XDP program and Go. The Go side is
 * generated from this file by bpf2go -type (loader/gen.go); never copy a
 * struct by hand. Byte order: addresses are network order, everything else
 * (ports, VNI, lengths) host order, so Go reads them without swapping. */
#ifndef VXTAP_SHARED_H
#define VXTAP_SHARED_H

#include <linux/types.h>

/* Terminal reasons: every packet the program sees is counted under exactly
 * one. Go derives the counter names from these enumerator names (BTF), so a
 * new reason needs no change on the Go side. Reasons are grouped by class:
 * a reason belongs to the class of the last REASON__CLASS_* boundary at or
 * below it (Go reads the boundaries, never matches names). */
enum vxtap_reason {
	/* accounted: read on purpose, in a flow or a count of its own */
	REASON_FLOW = 0,            /* mirror copy accounted as a flow */
	REASON_OVERFLOW,            /* mirror copy of a flow that found no slot: accounted in the overflow aggregates */
	REASON_NON_IP,              /* mirror copy whose inner frame is not IP (ARP, LLDP, ...) */
	REASON_FILTER_REJECT,       /* mirror copy rejected by its session's filter rules */
	/* passed: not mirror traffic, left to the kernel */
	REASON_NOT_MIRROR,          /* not mirror traffic (SSH, health checks, ...): passed untouched */
	REASON_OUTER_FRAGMENT,      /* outer UDP in an IP fragment: VXLAN not visible, passed */
	REASON_GENEVE_NOT_VXLAN,    /* GENEVE whose payload is not IP/UDP/VXLAN: passed */
	/* refused: mirror-shaped traffic vxtap does not trust, dropped unread */
	REASON_UNKNOWN_SOURCE,      /* outer source outside allowed_sources */
	REASON_UNKNOWN_VNI,         /* VNI with no configured session, and no default session */
	/* malformed: cut short or invalid */
	REASON_SHORT_OUTER_ETH,     /* frame shorter than an Ethernet header */
	REASON_SHORT_OUTER_VLAN,    /* outer VLAN tag cut short, or more than two tags */
	REASON_SHORT_OUTER_IP,      /* outer IPv4/IPv6 header cut short or IHL < 5 */
	REASON_SHORT_OUTER_UDP,     /* outer UDP header cut short */
	REASON_BAD_GENEVE,          /* GENEVE header short, wrong version or options past the end */
	REASON_SHORT_VXLAN,         /* UDP to the VXLAN port with fewer than 8 bytes of VXLAN */
	REASON_BAD_VXLAN_FLAGS,     /* VXLAN header without the I (valid VNI) flag */
	REASON_SHORT_INNER_ETH,     /* inner Ethernet header cut short */
	REASON_SHORT_INNER_VLAN,    /* inner VLAN tag cut short, or more than two tags */
	REASON_SHORT_INNER_IP,      /* inner IPv4/IPv6 header cut short */
	REASON_BAD_INNER_IP,        /* inner IP version/IHL/length inconsistent */
	REASON_IPV6_CHAIN_TOO_LONG, /* more IPv6 extension headers than MAX_IPV6_EXT */
	REASON_SHORT_IPV6_EXT,      /* an IPv6 extension header cut short */
	REASON_SHORT_INNER_L4,      /* inner TCP/UDP header cut short in a copy that is not truncated */
	/* lost: a mirror copy vxtap could not account */
	REASON_FLOW_INSERT_FAILED,  /* no flow slot and no overflow aggregate took the copy (not expected) */
	REASON__MAX,
	/* Class boundaries: the first reason of each class. */
	REASON__CLASS_ACCOUNTED = REASON_FLOW,
	REASON__CLASS_PASSED = REASON_NOT_MIRROR,
	REASON__CLASS_REFUSED = REASON_UNKNOWN_SOURCE,
	REASON__CLASS_MALFORMED = REASON_SHORT_OUTER_ETH,
	REASON__CLASS_LOST = REASON_FLOW_INSERT_FAILED,
};

/* Flags counted in addition to the terminal reason (index REASON__MAX + flag
 * in the counters map), grouped by class as the reasons are: a flag
 * belongs to the class of the last FLAG__CLASS_* boundary at or below it. */
enum vxtap_flag {
	/* shape: what the copy looked like */
	FLAG_TRUNCATED = 0, /* copy shorter than its inner IP header states (still accounted) */
	FLAG_L4_TRUNCATED,  /* truncated copy with its inner TCP/UDP header cut: ports from its first 4 bytes when there (else 0), TCP flags when byte 13 is there */
	FLAG_VXLAN_NONSTD,  /* VXLAN flag or reserved bits other than I are set */
	FLAG_INNER_FRAGMENT,/* inner IPv4/IPv6 fragment (later fragments carry no ports) */
	FLAG_GENEVE,        /* VXLAN found inside GENEVE (Gateway Load Balancer) */
	FLAG_OUTER_VLAN,    /* outer frame carried VLAN tag(s) */
	FLAG_INNER_VLAN,    /* inner frame carried VLAN tag(s) */
	FLAG_DIR_UNKNOWN,   /* filter: neither inner address is the session's ENI */
	/* event: what the data path sent to userspace */
	FLAG_FLOW_START,    /* flow-start event emitted */
	FLAG_FLOW_END,      /* flow-end event emitted (TCP FIN/RST) */
	FLAG_SAMPLED,       /* packet sample emitted */
	FLAG_THREAT_HIT,    /* an accounted copy to or from a threat-listed address (every one) */
	FLAG_THREAT_EVENT,  /* threat-hit event emitted (a flow's first hit) */
	FLAG_RB_WAKEUP,     /* reader woken because the ring passed its fill threshold */
	FLAG_DECAP_FORWARDED, /* --decap-to: inner frame handed to the redirect (delivered = this minus the decap_failed the target refused) */
	FLAG_INDEX_FULL,    /* a new flow's home and next flow_index buckets were full: the copy went to the overflow aggregates */
	FLAG_INDEX_BUSY,    /* a new flow's home bucket stayed locked: the copy went to the overflow aggregates */
	/* lost: a record userspace will never see */
	FLAG_RINGBUF_FULL,  /* a ring buffer reserve/output failed: record lost */
	/* decap: an accounted copy the decapsulated feed (--decap-to) did not deliver */
	FLAG_DECAP_UNSELECTED, /* not forwarded: its filter rule says forward: false */
	FLAG_DECAP_NO_TARGET,  /* not forwarded: no interface for its VNI and no default one */
	FLAG_DECAP_JUMBO,      /* not forwarded: a multi-buffer (jumbo) copy, the targets take no multi-buffer frames */
	FLAG_DECAP_FAILED,     /* the redirect failed: head adjust, or the target refused the frame (counted by decap_trace.c) */
	FLAG__MAX,
	/* Class boundaries: the first flag of each class. */
	FLAG__CLASS_SHAPE = FLAG_TRUNCATED,
	FLAG__CLASS_EVENT = FLAG_FLOW_START,
	FLAG__CLASS_LOST = FLAG_RINGBUF_FULL,
	FLAG__CLASS_DECAP = FLAG_DECAP_UNSELECTED,
};

/* Constants both sides use (Go gets them through bpf2go -type). */
enum vxtap_const {
	MAX_SNAP_LEN = 2048,       /* largest sample snap length (bytes of inner frame) */
	MIN_FRAME = 14,            /* shortest frame BPF_PROG_TEST_RUN runs XDP on: an Ethernet header */
	FLOW_CTL_NEXT = 0,         /* flow_ctl index: next never-used flow slot (may pass the table size) */
	FLOW_CTL_OVERFLOW_GEN = 1, /* flow_ctl index: overflow half (bit 0) the data path adds to */
	FLOW_CTL_SEED = 2,         /* flow_ctl index: the flow hash seed, random, set by Go when the pins are created */
	FLOW_CTL_MAX = 3,          /* entries in flow_ctl */
	FLOW_BUCKET_ENTRIES = 15,  /* entries in one flow_index bucket (64 bytes with its lock) */
	FLOW_ENTRY_SLOT_BITS = 24, /* low bits of a flow_index entry: slot index + 1; the 8 above are the tag */
	FLOW_INDEX_MAX_SLOTS = (1 << 24) - 1, /* largest flow table: slot index + 1 fits FLOW_ENTRY_SLOT_BITS */
	FLOW_CACHE_BITS = 13,      /* per-CPU flow cache: 1 << 13 = 8,192 entries (64 KiB per CPU), placed by flow_cache_hash's low bits */
	FLOW_HASH_KEY_WORDS = 6,   /* 64-bit words of the flow hash key (cfg_flow_hash_key), from the seed */
	FLOW_LOCK_BPF = 1,         /* flow_bucket.lock holder bits: held by the data path */
	FLOW_LOCK_GO = 2,          /* flow_bucket.lock holder bits: held by Go */
	FLOW_LOCK_HELD = 3,        /* flow_bucket.lock: mask of the holder bits (0: free) */
	FLOW_BUCKET_ALONE = 4,     /* flow_bucket.lock: no key of this home bucket has its entry in the next one */
	FLOW_LOCK_VERSION_ONE = 8, /* flow_bucket.lock: one release; the bits from here count them (wrapping) */
	DECAP_DEFAULT_KEY = 1 << 24, /* decap_ports key of the interface for VNIs without their own (no 24-bit VNI) */
	DECAP_MAX_TARGETS = 4096,  /* decap_ports entries: the default plus one per VNI */
};

/* Counts of slots put in flow_free and taken out of it (flow_free_hint,
 * mmapped by Go): a new flow skips the queue's locked pop while nothing
 * waits there. Only a hint; see claim_slot. */
struct free_hint {
	__u64 pushed; /* slots pushed to flow_free, counted after each push (Go and BPF) */
	__u64 popped; /* slots popped from flow_free, counted after each pop (BPF) */
};

/* One bucket of flow_index (flow_index.h): a lock and FLOW_BUCKET_ENTRIES
 * entries, 64 bytes, one cache line. A flow's entry sits in its home bucket
 * or the next one. Go maps the array and removes, inserts and reads
 * entries with the same atomics. */
struct flow_bucket {
	__u32 lock;    /* FLOW_LOCK_HELD bits (0 free, else who holds it: taken by compare-and-swap), FLOW_BUCKET_ALONE, and a count of releases above (flow_index_unlock) */
	__u32 ent[15]; /* 0 empty, else (slot index + 1) | tag << FLOW_ENTRY_SLOT_BITS; set by compare-and-swap */
};

/* Ring buffer record types (first field of every record). */
enum vxtap_event_type {
	EVENT_FLOW_START = 1, /* struct flow_event: first packet of a flow; with FIN or RST in its tcp_flags it also ends the flow (one record, read as a start and an end) */
	EVENT_FLOW_END = 2,   /* struct flow_event: TCP FIN or RST seen */
	EVENT_SAMPLE = 3,     /* struct sample_hdr followed by cap_len bytes */
	EVENT_CAPTURE = 4,    /* struct capture_hdr followed by cap_len bytes (vxtap capture) */
	EVENT_THREAT_HIT = 5, /* struct threat_event: a flow's first packet to or from a threat-listed address */
};

/* One packet/byte pair of a counter. */
struct counter {
	__u64 packets;
	__u64 bytes; /* frame bytes on the wire (outer, whole frame incl. frags) */
};

/* One-way inner flow. IPv4 addresses sit in the first 4 bytes, rest zero. */
struct flow_key {
	__u32 vni;     /* VXLAN network identifier (24 bits) */
	__u8 family;   /* 4 or 6 */
	__u8 proto;    /* inner IPv4 protocol / IPv6 final next header */
	__u16 sport;   /* TCP/UDP source port, 0 otherwise or in later fragments */
	__u16 dport;   /* TCP/UDP destination port */
	__u16 pad;
	__u8 src[16];  /* inner source address, network order */
	__u8 dst[16];  /* inner destination address, network order */
};

/* flow_slot.state: who may read a slot. */
enum flow_slot_state {
	FLOW_SLOT_FREE = 0,    /* unused, or given back by Go after a removal */
	FLOW_SLOT_CLAIMED = 1, /* taken by the program, not yet in flow_index */
	FLOW_SLOT_LIVE = 2,    /* in flow_index: a flow Go walks */
	FLOW_SLOT_DETACHED = 3, /* taken out of flow_index by Go, kept until its last record is stored (Go only; a restart puts it back) */
	FLOW_SLOT_RECORDED = 4, /* detached, every packet in stored records, ledger entry being forgotten (Go only; a restart forgets the entry and frees it) */
	FLOW_SLOT_DYING = 5,    /* taken out of flow_index by Go, which waits for a grace period before reading it: the flow cache no longer adds to it */
};

/* flow_slot.direction: the flow seen from the source ENI, found once when
 * the flow is created (the session's ENI addresses, else the outer source). */
enum flow_dir {
	FLOW_DIR_UNSET = 0,   /* not looked at yet (struct pkt only) */
	FLOW_DIR_INGRESS = 1, /* inner destination is the source ENI */
	FLOW_DIR_EGRESS = 2,  /* inner source is the source ENI */
	FLOW_DIR_UNKNOWN = 3, /* neither inner address is the ENI's */
};

/* One flow in the mmapable flow_slots array. Every CPU updates the one slot
 * of a flow in place (counters: see owner), so Go reads a flow with plain
 * loads and walks the table as one sequential scan of memory (a hash walk
 * chases pointers and costs a cache miss or more per flow). 128 bytes, so
 * two flows never share a cache line (and a million flows stay 128 MiB). */
struct flow_slot {
	__u64 packets;      /* plain add, by the owner CPU only; the others add to the slot's flow_shared entry */
	__u64 bytes;        /* as packets; sum of inner IP lengths as the inner header states them */
	__u64 first_ns;     /* clock of the first packet, set when the slot is claimed */
	__u64 last_ns;      /* clock of the latest packet (plain store: any CPU's latest will do) */
	__u32 state;        /* enum flow_slot_state */
	__u32 tcp_flags;    /* OR of the TCP flags seen (low byte), atomic or */
	__u32 end_seen;     /* a FIN or RST was seen; set once by compare-and-swap */
	__u8 outer_family;  /* 4 or 6 */
	__u8 direction;     /* enum flow_dir, set when the slot is claimed */
	__u8 truncated;     /* 1 once a copy of the flow was truncated (session PacketLength); plain store, only ever 0 -> 1 */
	__u8 owner;         /* id + 1 of the CPU that claimed the slot, the only one to add to packets and bytes; 0 = none (CPU id >= 255, or claimed by a program older than the field: every CPU adds to flow_shared) */
	__u8 outer_src[16]; /* outer source of the first packet = the mirror source ENI, network order */
	struct flow_key key;
	__u32 gen;          /* bumped by Go each time it frees the slot, so a reader in another process can tell a slot reused while it copied */
	__u32 rule;         /* RuleNumber of the filter rule that accepted the first packet, 0 = none decided; set when claimed */
	__u32 marks;        /* enum flow_mark bits: zeroed when claimed, then only set, by atomic or (the program, and Go's merge of a restart) */
	__u64 verdict;      /* the classifier's decision for the flow, kept for its later packets: 0 = none; else the filter_gen value it was decided under (low 32 bits, with the applies counted from FILTER_GEN_APPLY_SHIFT) and enum filter_verdict (high 32); one 64-bit store */
};

/* flow_slot.marks: things that happen once per flow. */
enum flow_mark {
	FLOW_MARK_THREAT = 1, /* the threat-hit event of this flow was sent */
	FLOW_MARK_SHARED = 2, /* the slot's flow_shared entry may hold counts (set before the first add to it): a reader adds them to the slot's */
};

/* A flow's packets and bytes counted by CPUs other than its slot's owner
 * (the flow_shared map, flow_slots' index; the struct has its own name, as
 * bpf2go refuses a type named like a map), by atomic add. Under RSS a
 * flow's copies reach one CPU, so most flows never touch theirs. Zero
 * whenever its slot is claimed: Go zeroes it when it frees the slot, and
 * a claim zeroes it again when the slot's old marks say it was used. */
struct flow_shared_counts {
	__u64 packets; /* atomic add */
	__u64 bytes;   /* atomic add; inner IP lengths, as flow_slot.bytes */
};

/* Trusted outer sources (allowed_sources) LPM key. prefixlen counts the 32
 * family bits plus the CIDR's, so IPv4 and IPv6 share one trie. */
struct source_lpm_key {
	__u32 prefixlen;
	__u32 family;  /* 4 or 6 */
	__u8 addr[16]; /* network order, IPv4 in the first 4 bytes */
};

/* A refused outer source (offenders map key). */
struct offender_key {
	__u8 addr[16]; /* outer source, network order, IPv4 in the first 4 bytes */
	__u8 family;   /* 4 or 6 */
	__u8 reason;   /* enum vxtap_reason: REASON_UNKNOWN_SOURCE or REASON_UNKNOWN_VNI */
	__u8 pad[2];
};

/* Overflow aggregate key: copies of flows that found no slot, folded by
 * VNI, inner destination, protocol and destination port. gen is the
 * half Go is not draining (flow_ctl FLOW_CTL_OVERFLOW_GEN). */
struct overflow_key {
	__u32 gen;     /* 0 or 1 */
	__u32 vni;
	__u8 family;   /* 4 or 6 */
	__u8 proto;
	__u16 dport;
	__u8 dst[16];  /* inner destination, network order */
};

/* Overflow per-VNI catch-all key (when the overflow aggregate is full). */
struct overflow_vni_key {
	__u32 gen; /* 0 or 1 */
	__u32 vni;
};

/* Overflow ledger key: one aggregate of one half (written by Go only). A
 * separate map from flow_ledger, so an aggregate is never taken for a flow. */
struct overflow_ledger_key {
	struct overflow_key agg; /* by VNI: gen and vni only; catch-all: gen only */
	__u32 level;             /* 0 by destination, 1 by VNI, 2 catch-all (flow.OverflowLevel) */
};

/* Per-CPU counts of one overflow aggregate. */
struct overflow_val {
	__u64 packets;
	__u64 bytes;    /* sum of inner IP lengths as stated */
	__u64 first_ns; /* clock of this CPU's first packet */
	__u64 last_ns;  /* clock of this CPU's latest packet */
	__u32 tcp_flags;/* OR of the TCP flags seen */
	__u32 truncated;/* 1 once a truncated copy was folded in */
};

/* Per-VNI counts of mirror copies that make no flow (per CPU); the flows
 * themselves carry the per-VNI packets and bytes. */
struct vni_counters {
	__u64 non_ip;    /* inner frame is not IP (ARP, LLDP, ...) */
	__u64 rejected;  /* rejected by the session's filter */
	__u64 malformed; /* cut short or invalid after the VXLAN header */
};

/* What flow records already carried for one flow (written by Go only). */
struct ledger_entry {
	__u64 packets;
	__u64 bytes;
};

/* EVENT_FLOW_START / EVENT_FLOW_END record. */
struct flow_event {
	__u32 type;         /* enum vxtap_event_type */
	__u8 tcp_flags;     /* flags of the packet that caused the event */
	__u8 outer_family;  /* 4 or 6 */
	__u16 pad;
	__u64 ts_ns;        /* program clock */
	struct flow_key key;
	__u8 outer_src[16]; /* network order */
};

/* EVENT_SAMPLE record header; cap_len bytes of the inner frame follow. */
struct sample_hdr {
	__u32 type;     /* EVENT_SAMPLE */
	__u32 vni;
	__u64 ts_ns;    /* program clock */
	__u32 orig_len; /* inner frame length as captured by the mirror (after the VXLAN header) */
	__u32 cap_len;  /* bytes of the inner frame that follow this header */
	__u32 rule;     /* filter rule number that sent it here, 0 = rate sampling */
	__u32 pad;
};

/* ---- Filter classification (issue 4): compiled AWS Traffic Mirror filter
 * rules, written by loader/filter.go, read by include/classify.h. Every
 * table is double-buffered: keys carry the generation (0 or 1) and a packet
 * reads filter_gen once, so it sees one rule set only. ---- */

/* What decides a packet's fate. */
enum filter_action {
	FILTER_ACCEPT = 0, /* analyze the packet */
	FILTER_REJECT = 1, /* count it under its rule and drop it */
};

/* Traffic direction as AWS defines it for the session's source ENI. */
enum filter_dir {
	FILTER_DIR_INGRESS = 0, /* inner destination is the ENI */
	FILTER_DIR_EGRESS = 1,  /* inner source is the ENI */
};

/* How a session treats its packets. */
enum filter_mode {
	FILTER_MODE_RULES = 0,  /* evaluate the filter's rules */
	FILTER_MODE_ACCEPT = 1, /* analyze everything (no filter) */
	FILTER_MODE_REJECT = 2, /* drop everything */
	FILTER_MODE_UNKNOWN_VNI = 3, /* the default session when none is configured: drop as unknown_vni */
};

/* What a session does when neither inner address is its ENI's. */
enum filter_unknown {
	FILTER_UNKNOWN_ACCEPT = 0,  /* analyze without evaluating rules */
	FILTER_UNKNOWN_REJECT = 1,  /* drop */
	FILTER_UNKNOWN_INGRESS = 2, /* evaluate the ingress rules */
	FILTER_UNKNOWN_EGRESS = 3,  /* evaluate the egress rules */
};

/* What a hit-counter slot counts (struct filter_rule.kind). */
enum filter_slot_kind {
	FILTER_SLOT_RULE = 0,     /* a filter rule */
	FILTER_SLOT_NO_MATCH = 1, /* a ruleset's packets no rule matched (rejected) */
	FILTER_SLOT_SERVICE = 2,  /* a ruleset's packets to/from the Amazon DNS resolver */
	FILTER_SLOT_SESSION = 3,  /* a session's packets decided without rules */
};

/* Limits and flag bits of the filter tables (enums so Go gets them). */
enum filter_const {
	FILTER_MAX_RULES = 4096,        /* rules per ruleset: 64 bitset words of 64 bits */
	FILTER_DEFAULT_VNI = 1 << 24,   /* filter_sessions key of the default session: no 24-bit VNI */
	FILTER_SESSION_ADDRS = 1,       /* filter_session.flags: direction from filter_eni, else the outer source */
	FILTER_SESSION_AMAZON_DNS = 2,  /* filter_session.flags: the filter mirrors Amazon DNS traffic */
	FILTER_LPM_RESOLVER = 1,        /* filter_lpm_val.flags: the prefix is an Amazon DNS resolver address */
	FILTER_V4_TERMINAL = 1,         /* filter_v4_node entry: a bitset (index << FILTER_V4_SHIFT), else a child node */
	FILTER_V4_RESOLVER = 2,         /* filter_v4_node entry: the address is an Amazon DNS resolver */
	FILTER_V4_SHIFT = 2,            /* filter_v4_node entry: index bits start here */
	FILTER_GEN_SESSIONS = 2,        /* filter_gen value bit: the active generation holds sessions; clear, no rule set is applied and no packet looks one up */
	FILTER_GEN_VNI = 4,             /* filter_gen value bit: filter_vni holds the active generation's sessions; an older vxtap's apply clears it, and filter_sessions decides */
	FILTER_VNI_ADDRS4 = 4,          /* IPv4 source-ENI addresses a filter_vni entry holds; a session with more is looked up in filter_eni */
	FILTER_VNI_ADDRS6 = 2,          /* IPv6 ones */
	FILTER_GEN_APPLY_SHIFT = 8,     /* filter_gen value: the bits from here count rule-set applies (wrapping), so a cached verdict names the exact rule set */
};

/* flow_slot.verdict, high 32 bits: how to replay the classifier's decision
 * for a later packet of the flow without classifying it again. */
enum filter_verdict {
	FILTER_VERDICT_HIT_MASK = (1U << 30) - 1, /* the rule_hits slot the decision was counted under */
	FILTER_VERDICT_RULE = 1U << 30,           /* that slot is a filter_rules slot: the rule's attributes apply to the packet */
	FILTER_VERDICT_DIR_UNKNOWN = 1U << 31,    /* the direction was unknown: counted under FLAG_DIR_UNKNOWN */
};

/* Index layout of the per-ruleset filter tables: every table is indexed by
 * table = ruleset * FILTER_GENS + gen; per-field tables (IPv4 roots, IPv6
 * LPM scope, port tables) by table * FILTER_FIELDS + field; the protocol
 * table by table * FILTER_PROTOS + proto; the port tables by field table *
 * FILTER_PORT_BLOCKS + port / 256. */
enum filter_layout {
	FILTER_FIELD_SRC = 0,          /* per-field tables: source */
	FILTER_FIELD_DST = 1,          /* per-field tables: destination */
	FILTER_FIELDS = 2,             /* fields per table */
	FILTER_GENS = 2,               /* generations per ruleset */
	FILTER_PROTOS = 256,           /* protocol table entries per table */
	FILTER_PORT_BLOCKS = 256,      /* port blocks (256 ports each) per field table */
	FILTER_PORT_UNIFORM = 1U << 31,/* port top entry: one bitset for the whole block */
	FILTER_VNI_SLOTS = 4096,       /* filter_vni entries per generation picked by the VNI's low bits (a power of two) */
	FILTER_VNI_STRIDE = 4097,      /* filter_vni entries per generation: the slots, then the default session's */
};

/* What a filter_vni entry says about the VNIs whose low bits pick it. */
enum filter_vni_kind {
	FILTER_VNI_LOOKUP = 0, /* look the VNI up in filter_sessions: several sessions share the slot (or a zeroed table) */
	FILTER_VNI_ONE = 1,    /* vni's session is sess; any other VNI of the slot has none (the default entry decides) */
	FILTER_VNI_NONE = 2,   /* no session's VNI picks the slot (the default entry decides); in the default entry: no default session */
};

/* filter_sessions key. vni FILTER_DEFAULT_VNI (not a 24-bit VNI) holds the
 * session of VNIs that have none. */
struct filter_session_key {
	__u32 vni; /* VXLAN VNI */
	__u32 gen; /* generation, 0 or 1 */
};

/* One mirror session: what filter it applies and how. */
struct filter_session {
	__u32 ruleset[2];   /* ruleset of each enum filter_dir */
	__u32 rule_base[2]; /* first filter_rules/rule_hits slot of each ruleset */
	__u32 nrules[2];    /* rules of each ruleset; its no-match slot is rule_base + nrules, its service slot + 1 */
	__u32 slot;         /* slot counting packets decided without rules */
	__u32 sample_rate;  /* 1-in-N samples of accepted packets, 0 = the program's */
	__u32 snap_len;     /* bytes per sample, 0 = the program's */
	__u8 mode;          /* enum filter_mode */
	__u8 unknown;       /* enum filter_unknown */
	__u8 flags;         /* FILTER_SESSION_* */
	__u8 pad;
};

/* filter_vni value: the session of a slot's one VNI, or of the default
 * (the entry after the slots), so the VNI gate needs no hash lookup. */
struct filter_vni_slot {
	__u32 vni;                  /* the VNI sess belongs to (FILTER_VNI_ONE) */
	__u8 kind;                  /* enum filter_vni_kind */
	__u8 addrs;                 /* 1: addr4 and addr6 are all of sess's source-ENI addresses (else look in filter_eni) */
	__u8 naddr4;                /* addresses in addr4 */
	__u8 naddr6;                /* addresses in addr6 */
	struct filter_session sess; /* as filter_sessions holds it */
	__u32 addr4[FILTER_VNI_ADDRS4];        /* IPv4 source-ENI addresses, network order */
	__u8 addr6[FILTER_VNI_ADDRS6][16];     /* IPv6 ones, network order */
};

/* filter_eni key: one address of a session's source ENI. */
struct filter_eni_key {
	__u32 gen;     /* generation */
	__u32 vni;     /* session VNI */
	__u8 family;   /* 4 or 6 */
	__u8 pad[3];
	__u8 addr[16]; /* network order, IPv4 in the first 4 bytes */
};

/* IPv6 LPM key. scope = the field table (enum filter_layout); prefixlen
 * counts the 32 scope bits plus the CIDR's. */
struct filter_lpm6_key {
	__u32 prefixlen;
	__u32 scope;
	__u8 addr[16]; /* network order */
};

/* IPv4 CIDR table node: one byte of the address, 256 entries, each the
 * bitset of the longest CIDR covering it (FILTER_V4_TERMINAL) or the next
 * node (a fixed-stride trie with leaf pushing: at most 4 levels). */
struct filter_v4_node {
	__u32 e[256];
};

/* LPM value: the rules whose CIDR contains the matched prefix. */
struct filter_lpm_val {
	__u32 bitset; /* filter_bitsets index */
	__u32 flags;  /* FILTER_LPM_* */
};

/* A set of rule indexes of one ruleset (bit i = rule i in RuleNumber
 * order). summary bit w is set when w[w] is non-zero. */
struct filter_bitset {
	__u64 summary;
	__u64 w[64];
};

/* 256 consecutive ports (a block of a port table) to bitset indexes. */
struct filter_port_block {
	__u32 bitset[256];
};

/* What a hit-counter slot stands for (filter_rules). */
struct filter_rule {
	__u32 number;      /* RuleNumber, 0 for the other kinds */
	__u32 sample_rate; /* 1-in-N samples of accepted packets, 0 = the session's */
	__u8 action;       /* enum filter_action */
	__u8 capture;      /* 1: every packet it accepts is sampled */
	__u8 kind;         /* enum filter_slot_kind */
	__u8 no_forward;   /* 1: what it accepts stays out of the decap feed (forward: false) */
};

/* Userspace bookkeeping of a ruleset (filter_rulesets), so any process
 * reading the pinned maps can name the hit counters. */
struct filter_ruleset_meta {
	char filter[48];  /* filter id, NUL-padded */
	__u32 rule_base;  /* first slot */
	__u32 nrules;     /* rules; two more slots follow (no match, service) */
	__u8 dir;         /* enum filter_dir */
	__u8 valid;       /* 1 when this ruleset exists in its generation */
	__u8 amazon_dns;  /* 1: the filter mirrors Amazon DNS traffic */
	__u8 pad[5];
};

/* ---- Live captures (`vxtap capture`): compiled top-view filters the
 * program checks for every accounted copy (include/capture.h), written by
 * loader/capture.go. ---- */

/* Capture limits (enums so Go gets them). */
enum capture_const {
	CAPTURE_MAX_SLOTS = 8, /* captures at once: one bit each in capture_hdr.captures */
	CAPTURE_MAX_TERMS = 8, /* terms (ANDed) of one capture filter */
};

/* What one term of a capture filter tests. */
enum capture_term_kind {
	CAPTURE_TERM_VNI = 0, /* VNI == num */
	CAPTURE_TERM_ADDR,    /* inner source or destination in the prefix */
	CAPTURE_TERM_SRC,     /* inner source in the prefix */
	CAPTURE_TERM_DST,     /* inner destination in the prefix */
	CAPTURE_TERM_MIRROR,  /* outer source (the mirror source) in the prefix */
	CAPTURE_TERM_PORT,    /* TCP/UDP source or destination port == num */
	CAPTURE_TERM_SPORT,   /* TCP/UDP source port == num */
	CAPTURE_TERM_DPORT,   /* TCP/UDP destination port == num */
	CAPTURE_TERM_PROTO,   /* inner protocol's bit set in protos */
};

/* One term. A prefix is stored masked with its mask, both network order
 * (IPv4 in the first 4 bytes), so a match is four masked word compares
 * that need no byte swap. num is host order. */
struct capture_term {
	__u8 kind;     /* enum capture_term_kind */
	__u8 family;   /* prefix terms: 4 or 6 */
	__u8 pad[2];
	__u32 num;     /* VNI or port, host order */
	__u8 addr[16]; /* prefix address, masked, network order */
	__u8 mask[16]; /* prefix mask, network order */
	__u64 protos[4]; /* bit p of the 256: protocol p matches */
};

/* One capture slot: a running capture's filter (all terms must match). */
struct capture_slot {
	__u32 active;   /* 1: a capture runs in this slot */
	__u32 nterms;   /* terms used, <= CAPTURE_MAX_TERMS */
	__u32 snap_len; /* bytes of inner frame the capture wants, <= MAX_SNAP_LEN */
	__u8 gen;       /* generation Go gives each capture set here, echoed in capture_hdr.gen */
	__u8 pad[3];
	__u64 limit;    /* copies to send, 0 = no limit (-c) */
	__u64 taken;    /* copies claimed against limit (atomic add by the program) */
	struct capture_term terms[CAPTURE_MAX_TERMS];
};

/* capture_ctl value: how many slots are active, so a copy skips the
 * slots when no capture runs. */
struct capture_ctl {
	__u32 nactive; /* slots with active = 1 */
	__u32 pad;
};

/* Per-CPU counters of one capture slot (zeroed by Go when it sets the slot). */
struct capture_counters {
	__u64 matched;   /* accounted copies the filter matched */
	__u64 sent;      /* of those, put in the ring buffer */
	__u64 lost;      /* of those, lost: the ring buffer was full */
	__u64 over_limit;/* of those, not sent: the -c limit was reached */
};

/* EVENT_CAPTURE record header; cap_len bytes of the inner frame follow.
 * Sent once per copy, however many captures it matched. */
struct capture_hdr {
	__u32 type;         /* EVENT_CAPTURE */
	__u32 vni;
	__u64 ts_ns;        /* program clock */
	__u32 orig_len;     /* inner frame length: as its IP header states it for a copy the session truncated, else as delivered */
	__u32 cap_len;      /* bytes that follow: the largest snap length of the captures matched */
	__u32 rule;         /* filter rule that accepted the copy, 0 = none decided */
	__u8 captures;      /* bit i: capture slot i matched */
	__u8 outer_family;  /* 4 or 6 */
	__u8 pad[2];
	__u8 gen[CAPTURE_MAX_SLOTS]; /* each slot's generation when sent, so a reused slot is told apart */
	__u8 outer_src[16]; /* the mirror source, network order */
};

/* ---- Threat lists (issue 13, include/detect.h): addresses and CIDRs of
 * the detect: threat_lists, checked on every accounted copy. ---- */

/* threat_event.side: which inner address is listed (bits). */
enum threat_side {
	THREAT_SIDE_SRC = 1, /* the inner source */
	THREAT_SIDE_DST = 2, /* the inner destination */
};

/* threats LPM key. prefixlen counts the 32 family bits plus the CIDR's,
 * so IPv4 and IPv6 share one trie. */
struct threat_lpm_key {
	__u32 prefixlen;
	__u32 family;  /* 4 or 6 */
	__u8 addr[16]; /* network order, IPv4 in the first 4 bytes */
};

/* EVENT_THREAT_HIT record. */
struct threat_event {
	__u32 type;         /* EVENT_THREAT_HIT */
	__u8 tcp_flags;     /* flags of the packet that hit */
	__u8 outer_family;  /* 4 or 6 */
	__u8 side;          /* enum threat_side bits */
	__u8 first;         /* 1: the packet that hit started the flow */
	__u64 ts_ns;        /* program clock */
	struct flow_key key;
	__u8 outer_src[16]; /* mirror source, network order */
	__u32 src_list;     /* list id (threats value) of the source's match, 0 = none */
	__u32 dst_list;     /* list id of the destination's match, 0 = none */
};

#endif /* VXTAP_SHARED_H */
