/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The frame the live benchmark's generator sends, and the offsets it
 * rewrites per frame. Userspace (loader/livebench/frame.go) builds the
 * template with the same layout: Ethernet / IPv4 / UDP 4789 / VXLAN /
 * Ethernet / IPv4 / TCP, as an AWS mirror session sends a copy. */
#ifndef VXTAP_LIVE_H
#define VXTAP_LIVE_H

#define OFF_OUTER_IP   14 /* outer IPv4 header */
#define OFF_OUTER_UDP  34 /* outer UDP header */
#define OFF_VXLAN      42 /* VXLAN header */
#define OFF_INNER_ETH  50 /* inner Ethernet header */
#define OFF_INNER_IP   64 /* inner IPv4 header */
#define OFF_INNER_L4   84 /* inner TCP header */
#define GEN_MIN_LEN   104 /* the template up to the end of the inner TCP header */
#define IPV4_HDR_WORDS 10 /* 16-bit words of an IPv4 header without options */

#endif
