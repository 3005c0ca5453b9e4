/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Filter classification hook (AWS Traffic Mirror filter semantics). Only
 * compiled in when cfg_filter_enabled is set from Go. */
#ifndef VXTAP_CLASSIFY_H
#define VXTAP_CLASSIFY_H

#include "pkt.h"

#define CLASSIFY_ACCEPT 0 /* analyze the packet */
#define CLASSIFY_REJECT 1 /* count it under its rule and drop it */

static __always_inline int classify(struct xdp_md *ctx, struct pkt *p)
{
	return CLASSIFY_ACCEPT;
}

#endif /* VXTAP_CLASSIFY_H */
