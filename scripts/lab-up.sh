#!/usr/bin/env bash
# Brings the netns lab up: two AWS-style mirror sources whose workload
# interface is copied by tc into a Linux vxlan device (real RFC 7348
# encapsulation, outer source = the source's own address, VNIs 101 and
# 102), a bridge for the "VPC", and the appliance namespace whose veth
# vxtap attaches to. Idempotent: run it twice, nothing breaks.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab-env.sh
. "$here/lab-env.sh"

[ "$(id -u)" = 0 ] || { echo "lab-up: run as root (network namespaces)" >&2; exit 1; }

if [ -f "$LAB_ENV" ] && ip netns list | grep -qw "$NS_APP"; then
	echo "lab $P is already up ($LAB_ENV)"
	exit 0
fi
# A half-built lab from an interrupted run: start clean.
"$here/lab-down.sh" >/dev/null 2>&1 || true

nsx() { ip netns exec "$1" "${@:2}"; }

for ns in "$NS_APP" "$NS_VPC" "$NS_SRC1" "$NS_SRC2" "$NS_PEER1" "$NS_PEER2"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	# No router solicitations, autoconf or DAD: the only IPv6 packets on
	# the wire are the ones the traffic generator sends.
	nsx "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
		net.ipv6.conf.all.router_solicitations=0 net.ipv6.conf.default.router_solicitations=0 \
		net.ipv6.conf.all.autoconf=0 net.ipv6.conf.default.autoconf=0 \
		net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
		net.ipv6.conf.all.mldv1_unsolicited_report_interval=10 net.ipv6.conf.default.mldv1_unsolicited_report_interval=10 \
		net.ipv6.conf.all.mldv2_unsolicited_report_interval=10 net.ipv6.conf.default.mldv2_unsolicited_report_interval=10
done

# The VPC: a bridge, one veth per host.
ip -n "$NS_VPC" link add br0 type bridge
ip -n "$NS_VPC" link set br0 mtu "$VPC_MTU" up
vpc_port() { # vpc_port NS IFNAME PORTNAME
	ip link add "$P-$3" mtu "$VPC_MTU" type veth peer name "$2" mtu "$VPC_MTU"
	ip link set "$2" netns "$1"
	ip link set "$P-$3" netns "$NS_VPC"
	ip -n "$NS_VPC" link set "$P-$3" master br0 up
}
vpc_port "$NS_APP" "$APP_IF" a
# The appliance NIC runs XDP, so its veth takes frames through a ring of
# 256: a burst beyond it while the appliance's CPU is busy was dropped by
# the bridge port (tx_dropped: mirror copies lost on the way, under load).
# With a queue on the port, the kernel (6.16+) stops it instead of dropping
# and the copies wait.
ip netns exec "$NS_VPC" tc qdisc replace dev "$P-a" root pfifo limit 100000
vpc_port "$NS_SRC1" vpc0 s1
vpc_port "$NS_SRC2" vpc0 s2

ip -n "$NS_APP" addr add "$APP_V4/24" dev "$APP_IF"
ip -n "$NS_APP" addr add "$APP_V6/64" dev "$APP_IF" nodad
ip -n "$NS_APP" link set "$APP_IF" up
ip -n "$NS_SRC1" addr add "$SRC1_OUTER/24" dev vpc0
ip -n "$NS_SRC1" link set vpc0 up
ip -n "$NS_SRC2" addr add "$SRC2_OUTER_V4/24" dev vpc0
ip -n "$NS_SRC2" addr add "$SRC2_OUTER/64" dev vpc0 nodad
ip -n "$NS_SRC2" link set vpc0 up

# Workloads: each source's ENI talks to its peer namespace. Static
# neighbours: no ARP or ND crosses the mirrored interface.
workload() { # workload SRC_NS PEER_NS WL_V4 WL_V6 PEER_V4 PEER_V6
	ip link add "$P-w" type veth peer name "$P-p"
	ip link set "$P-w" netns "$1"
	ip link set "$P-p" netns "$2"
	ip -n "$1" link set "$P-w" name "$WL_IF"
	ip -n "$2" link set "$P-p" name "$PEER_IF"
	ip -n "$1" link set "$WL_IF" mtu "$WL_MTU" address 02:00:00:00:0a:01
	ip -n "$2" link set "$PEER_IF" mtu "$WL_MTU" address 02:00:00:00:0b:01
	ip -n "$1" addr add "$3/24" dev "$WL_IF"
	ip -n "$1" addr add "$4/64" dev "$WL_IF" nodad
	ip -n "$2" addr add "$5/24" dev "$PEER_IF"
	ip -n "$2" addr add "$6/64" dev "$PEER_IF" nodad
	ip -n "$1" link set "$WL_IF" up
	ip -n "$2" link set "$PEER_IF" up
	ip -n "$1" neigh replace "$5" lladdr 02:00:00:00:0b:01 dev "$WL_IF" nud permanent
	ip -n "$1" neigh replace "$6" lladdr 02:00:00:00:0b:01 dev "$WL_IF" nud permanent
	ip -n "$2" neigh replace "$3" lladdr 02:00:00:00:0a:01 dev "$PEER_IF" nud permanent
	ip -n "$2" neigh replace "$4" lladdr 02:00:00:00:0a:01 dev "$PEER_IF" nud permanent
}
workload "$NS_SRC1" "$NS_PEER1" "$SRC1_WL_V4" "$SRC1_WL_V6" "$PEER1_V4" "$PEER1_V6"
workload "$NS_SRC2" "$NS_PEER2" "$SRC2_WL_V4" "$SRC2_WL_V6" "$PEER2_V4" "$PEER2_V6"

# One packet on the wire is one packet for the generator and for vxtap:
# no segmentation offloads on the lab links.
if command -v ethtool >/dev/null; then
	for pair in "$NS_SRC1 $WL_IF" "$NS_SRC2 $WL_IF" "$NS_PEER1 $PEER_IF" "$NS_PEER2 $PEER_IF" \
		"$NS_SRC1 vpc0" "$NS_SRC2 vpc0" "$NS_APP $APP_IF"; do
		# shellcheck disable=SC2086
		set -- $pair
		nsx "$1" ethtool -K "$2" tso off gso off gro off >/dev/null 2>&1 || true
	done
fi

# The mirror sessions: a vxlan device per source, and tc copying every
# packet crossing the workload interface, both directions, into it.
ip -n "$NS_SRC1" link add vx$SRC1_VNI type vxlan id "$SRC1_VNI" local "$SRC1_OUTER" remote "$APP_V4" dstport 4789 nolearning
ip -n "$NS_SRC2" link add vx$SRC2_VNI type vxlan id "$SRC2_VNI" local "$SRC2_OUTER" remote "$APP_V6" dstport 4789 nolearning
# The vxlan devices only carry copies: no IPv6 of their own, or their MLD
# reports would travel the tunnel (AWS sends nothing but copies).
for pair in "$NS_SRC1 vx$SRC1_VNI $((VPC_MTU - 50))" "$NS_SRC2 vx$SRC2_VNI $((VPC_MTU - 70))"; do
	# shellcheck disable=SC2086
	set -- $pair
	nsx "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1"
	ip -n "$1" link set "$2" mtu "$3" up
done
mirror() { # mirror NS VXDEV
	ip netns exec "$1" tc qdisc add dev "$WL_IF" clsact
	# u32 matching everything: present in every kernel config (matchall
	# and flower are often modules, or missing).
	ip netns exec "$1" tc filter add dev "$WL_IF" ingress protocol all u32 match u32 0 0 action mirred egress mirror dev "$2"
	ip netns exec "$1" tc filter add dev "$WL_IF" egress protocol all u32 match u32 0 0 action mirred egress mirror dev "$2"
}
mirror "$NS_SRC1" vx$SRC1_VNI
mirror "$NS_SRC2" vx$SRC2_VNI
# Outer neighbours too, so the first copies are not held back by ARP/ND.
app_mac=$(ip -n "$NS_APP" -br link show "$APP_IF" | awk '{print $3}')
ip -n "$NS_SRC1" neigh replace "$APP_V4" lladdr "$app_mac" dev vpc0 nud permanent
ip -n "$NS_SRC2" neigh replace "$APP_V6" lladdr "$app_mac" dev vpc0 nud permanent

# Let the reports of the addresses just added (MLD, 10 ms apart) go out
# before anyone starts counting.
sleep 0.3

mkdir -p "$LAB_STATE_DIR"
# The sessions in vxtap's YAML format. The lab's copies leave from an
# underlay address apart from the workload's (as from an instance with a
# second ENI), so the workload addresses are listed: vxtap then tells
# ingress from egress. Every copy is analyzed: source 1 without rules,
# source 2 through a filter whose rules accept everything (so its records
# name the rule: 100 ingress, 200 egress). The ENI ids are made up. Only
# the two sources' outer addresses are trusted (allowed_sources): copies
# from any other address, or with another VNI, are dropped as
# unknown_source/unknown_vni.
cat >"$LAB_SESSIONS" <<YAML
# Mirror sessions of lab $P (written by scripts/lab-up.sh).
allowed_sources: [$SRC1_OUTER/32, "$SRC2_OUTER/128"]
sessions:
  $SRC1_VNI: {name: lab-src1, eni: eni-00000000000000101, addresses: [$SRC1_WL_V4, "$SRC1_WL_V6"], action: analyze}
  $SRC2_VNI: {name: lab-src2, eni: eni-00000000000000102, addresses: [$SRC2_WL_V4, "$SRC2_WL_V6"], filter: lab-accept-all}
filters:
  lab-accept-all:
    ingress:
      - {rule: 100, action: accept, description: everything to the workload}
    egress:
      - {rule: 200, action: accept, description: everything from the workload}
YAML
cat >"$LAB_ENV" <<ENV
LAB_PREFIX=$P
APP_NS=$NS_APP
APP_IF=$APP_IF
APP_V4=$APP_V4
APP_V6=$APP_V6
SRC1_NS=$NS_SRC1
SRC1_VNI=$SRC1_VNI
SRC1_OUTER=$SRC1_OUTER
SRC1_WL_V4=$SRC1_WL_V4
SRC1_WL_V6=$SRC1_WL_V6
PEER1_NS=$NS_PEER1
PEER1_V4=$PEER1_V4
PEER1_V6=$PEER1_V6
SRC2_NS=$NS_SRC2
SRC2_VNI=$SRC2_VNI
SRC2_OUTER=$SRC2_OUTER
SRC2_WL_V4=$SRC2_WL_V4
SRC2_WL_V6=$SRC2_WL_V6
PEER2_NS=$NS_PEER2
PEER2_V4=$PEER2_V4
PEER2_V6=$PEER2_V6
WL_IF=$WL_IF
SESSIONS=$LAB_SESSIONS
ENV

cat <<SUMMARY
lab $P is up:
  appliance   netns $NS_APP, interface $APP_IF ($APP_V4, $APP_V6): attach vxtap here
  source 1    netns $NS_SRC1, VNI $SRC1_VNI, outer $SRC1_OUTER -> $APP_V4, workload $SRC1_WL_V4 / $SRC1_WL_V6 <-> $NS_PEER1
  source 2    netns $NS_SRC2, VNI $SRC2_VNI, outer $SRC2_OUTER -> $APP_V6, workload $SRC2_WL_V4 / $SRC2_WL_V6 <-> $NS_PEER2
  facts       $LAB_ENV
  sessions    $LAB_SESSIONS (vxtap run --config: ENI addresses, so DIR shows ingress/egress)
SUMMARY
