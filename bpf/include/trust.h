/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Who is trusted: outer sources in allowed_sources (cfg_source_check) and
 * VNIs with a configured session (or a default session). Both are decided
 * before the inner packet is read, so a spoofed copy is never accounted. */
#ifndef VXTAP_TRUST_H
#define VXTAP_TRUST_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "config.h"
#include "filter_lookup.h"
#include "maps.h"
#include "pkt.h"

/* source_allowed: addr (network order, 4 or 16 bytes) is in allowed_sources. */
static __always_inline int source_allowed(__u8 family, const void *addr)
{
	struct source_lpm_key k = { .family = family };

	if (family == 4) {
		k.prefixlen = 32 + 32;
		__builtin_memcpy(k.addr, addr, 4);
	} else {
		k.prefixlen = 32 + 128;
		__builtin_memcpy(k.addr, addr, 16);
	}
	return bpf_map_lookup_elem(&allowed_sources, &k) != NULL;
}

/* vni_gate: whether the VNI has a filter session, and its sample rate and
 * snap length, into p. Returns REASON_UNKNOWN_VNI when no session names
 * the VNI and there is no default session, else -1. With no rule set
 * applied (no --config), every VNI is accepted: the daemon warns about
 * it; Go then leaves FILTER_GEN_SESSIONS clear, and no packet pays the
 * two session lookups that would miss. */
static __always_inline int vni_gate(struct pkt *p)
{
	struct filter_session *s;
	__u32 gen;

	if (!cfg_filter_enabled)
		return -1;
	gen = filter_gen_word();
	if (!(gen & FILTER_GEN_SESSIONS))
		return -1;
	s = filter_session_of(p->key.vni, gen);
	if (!s)
		return -1;
	if (s->mode == FILTER_MODE_UNKNOWN_VNI)
		return REASON_UNKNOWN_VNI;
	/* Only what a replayed decision needs: the classifier looks the
	 * session up again by the same filter_gen value (a copy of the whole
	 * entry cost about 10 ns a packet; BPF_PROG_TEST_RUN, 4 rounds). */
	p->sess_sample_rate = s->sample_rate;
	p->sess_snap_len = s->snap_len;
	p->gen = gen; /* whole: the generation, FILTER_GEN_VNI, and the applies a cached verdict is checked against */
	p->has_sess = 1;
	return -1;
}

/* note_offender: one refused copy under its outer source and reason. */
static __always_inline void note_offender(struct pkt *p, int reason)
{
	struct offender_key k = { .family = p->outer_family, .reason = reason };
	struct counter *c;

	__builtin_memcpy(k.addr, p->outer_src, sizeof(k.addr));
	c = bpf_map_lookup_elem(&offenders, &k);
	if (!c) {
		struct counter zero = {};

		bpf_map_update_elem(&offenders, &k, &zero, BPF_ANY);
		c = bpf_map_lookup_elem(&offenders, &k);
		if (!c)
			return;
	}
	c->packets++;
	c->bytes += p->wire_len;
}

#endif /* VXTAP_TRUST_H */
