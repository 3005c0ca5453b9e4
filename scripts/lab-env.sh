# shellcheck shell=bash
# Names and addresses of the netns lab, shared by lab-up.sh, lab-down.sh
# and the demo. VXTAP_LAB_PREFIX gives a test its own private copy.
# Addresses: 198.18.0.0/15 and 2001:db8::/32 only.
P=${VXTAP_LAB_PREFIX:-vxtap}
P=${P:0:8}                       # keeps interface names within 15 bytes

NS_APP=$P-app                    # the appliance: vxtap attaches to $APP_IF here
NS_VPC=$P-vpc                    # the "VPC": a bridge joining sources and appliance
NS_SRC1=$P-src1                  # mirror source 1 (outer IPv4, VNI 101)
NS_SRC2=$P-src2                  # mirror source 2 (outer IPv6, VNI 102)
NS_PEER1=$P-peer1                # the hosts source 1's workload talks to
NS_PEER2=$P-peer2                # the hosts source 2's workload talks to

APP_IF=$P-nic                    # appliance NIC (XDP); named per lab: pins and locks go by name
APP_V4=198.18.0.1                # appliance addresses: the mirror target
APP_V6=2001:db8:ff::1

SRC1_VNI=101
SRC1_OUTER=198.18.0.11           # source 1's primary address: outer source of its copies
SRC1_WL_V4=198.19.1.1            # workload (ENI) addresses of source 1
SRC1_WL_V6=2001:db8:1::1
PEER1_V4=198.19.1.2
PEER1_V6=2001:db8:1::2

SRC2_VNI=102
SRC2_OUTER=2001:db8:ff::12       # source 2 sends its copies over IPv6
SRC2_OUTER_V4=198.18.0.12
SRC2_WL_V4=198.19.2.1
SRC2_WL_V6=2001:db8:2::1
PEER2_V4=198.19.2.2
PEER2_V6=2001:db8:2::2

WL_IF=eni0                       # workload interface in each source: the mirrored "ENI"
PEER_IF=srv0                     # its peer in the peer namespace
VPC_MTU=9001                     # as on AWS
WL_MTU=1500                      # so copies never need fragmenting

LAB_STATE_DIR=/run/vxtap-lab
LAB_ENV=$LAB_STATE_DIR/$P.env    # machine-readable facts for the demo and tests
LAB_SESSIONS=$LAB_STATE_DIR/$P.sessions.yaml # the lab's mirror sessions, for vxtap run --config

# not_ours PID: true unless PID is the calling script or one of its
# ancestors. A test that runs lab-down.sh may have a thread inside a lab
# namespace (ip netns pids then lists the test itself): killing it would
# kill the caller.
not_ours() {
	local a=$$
	# Bounded: each step goes one parent up; the chain ends at PID 1.
	for _ in $(seq 64); do
		[ "$a" = "$1" ] && return 1
		a=$(sed 's/.*) //' "/proc/$a/stat" 2>/dev/null | awk '{print $2}')
		[ -n "$a" ] && [ "$a" -gt 1 ] || return 0
	done
	return 0
}
