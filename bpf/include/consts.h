/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Compile-time constants of the data path. Runtime switches are the
 * volatile const cfg_* in config.h, set from Go before load. */
#ifndef VXTAP_CONSTS_H
#define VXTAP_CONSTS_H

/* EtherTypes come from <linux/if_ether.h> (ETH_P_IP, ETH_P_8021Q, ...), host order. */

#define MAX_VLAN_TAGS    2      /* 802.1ad + 802.1Q: the most a real frame carries */
#define MAX_IPV6_EXT     6      /* IPv6 extension headers skipped before giving up */

#define VXLAN_HDR_LEN    8      /* RFC 7348 header */
#define VXLAN_FLAG_I     0x08   /* "VNI valid" flag, the only one RFC 7348 defines */
#define GENEVE_HDR_LEN   8      /* fixed part of the GENEVE header (RFC 8926) */

#define IP_MF            0x2000 /* IPv4 "more fragments" bit, host order */
#define IP_OFFMASK       0x1FFF /* IPv4 fragment offset mask, host order */

#define TCPF_BYTE_FIN     0x01   /* TCP FIN in the flags byte */
#define TCPF_BYTE_RST     0x04   /* TCP RST in the flags byte */

#define MAX_OUTER_LEN    1024   /* VXLAN header offset bound: outer + GENEVE headers never reach it */
#define MAX_INNER_IP_OFF (MAX_OUTER_LEN + 8 + 14 + 8) /* inner IP offset bound: VXLAN, Ethernet, two VLAN tags past MAX_OUTER_LEN */

#define FLOW_CACHE_SLOTS (1U << FLOW_CACHE_BITS) /* per-CPU flow cache entries (FLOW_CACHE_BITS: vxtap_shared.h) */

/* Constants Go needs as well (MAX_SNAP_LEN, FLOW_CTL_*, FLOW_CACHE_BITS) are enum vxtap_const
 * in vxtap_shared.h. */

#endif /* VXTAP_CONSTS_H */
