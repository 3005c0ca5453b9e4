/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The decapsulated feed (--decap-to): an accepted copy, once accounted, is
 * stripped of its outer headers (outer Ethernet/VLAN/IP/UDP/VXLAN, and the
 * GENEVE around VXLAN: everything before p->inner_off) and its inner frame,
 * exactly as the mirror source sent it (a truncated copy stays truncated),
 * is redirected to a local interface, so an IDS reading that interface sees
 * plain traffic. Only reached when cfg_decap is set. Frames lost after the
 * program returns (the target refused them) are counted by
 * bpf/decap_trace.c under FLAG_DECAP_FAILED. */
#ifndef VXTAP_REDIRECT_H
#define VXTAP_REDIRECT_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "config.h"
#include "pkt.h"

/* Decap targets: VNI (host order) or DECAP_DEFAULT_KEY -> ifindex. Written by loader/redirect.go. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, DECAP_MAX_TARGETS);
	__type(key, __u32);
	__type(value, __u32);
} decap_ports SEC(".maps");

/* decap_target: choose the VNI's interface, else the default one; returns
 * XDP_REDIRECT once the redirect is armed. bpf_redirect_map answers its
 * flags argument (0, XDP_ABORTED) when the key has no interface. */
static __always_inline long decap_target(__u32 vni)
{
	long ret = bpf_redirect_map(&decap_ports, vni, 0);

	if (ret == XDP_REDIRECT)
		return ret;
	return bpf_redirect_map(&decap_ports, DECAP_DEFAULT_KEY, 0);
}

/* decap: for an accounted copy, arm the redirect of its inner frame and
 * drop the outer headers; sets p->redirect when the copy is to leave by
 * XDP_REDIRECT. Every copy that reaches here is counted under one of the
 * decap flags. */
static __always_inline void decap(struct xdp_md *ctx, struct pkt *p)
{
	__u64 linear = (__u64)ctx->data_end - (__u64)ctx->data;

	if (p->no_forward) {
		pkt_flag(p, FLAG_DECAP_UNSELECTED); /* its filter rule says forward: false */
		return;
	}
	/* A multi-buffer copy (jumbo) goes whole or not at all. */
	if (!cfg_decap_frags && p->wire_len > linear) {
		pkt_flag(p, FLAG_DECAP_JUMBO);
		return;
	}
	if (decap_target(p->key.vni) != XDP_REDIRECT) {
		pkt_flag(p, FLAG_DECAP_NO_TARGET);
		return;
	}
	/* inner_off < linear: the inner Ethernet header was parsed there. */
	if (bpf_xdp_adjust_head(ctx, (int)p->inner_off)) {
		pkt_flag(p, FLAG_DECAP_FAILED);
		return;
	}
	p->redirect = 1;
	pkt_flag(p, FLAG_DECAP_FORWARDED);
}

#endif /* VXTAP_REDIRECT_H */
