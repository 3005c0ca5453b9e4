#!/usr/bin/env bash
# Brings the lab fleet up: the lab (lab-up.sh), then its appliance
# namespace turned into a stand-in for an AWS Network Load Balancer. The
# sources keep sending their VXLAN copies to the lab's mirror target
# address; the NLB namespace no longer owns it but routes it over a
# multipath route, one nexthop per appliance namespace, hashed on the
# outer 5-tuple (fib_multipath_hash_policy=1): as an NLB's flow hash, one
# appliance per outer flow, and the two directions of a connection may
# land on different ones (the outer source port is a hash of the inner
# packet). Each appliance owns the target address too, so its vxtap sees
# copies addressed exactly as on AWS. nlb-health.sh (started here, in the
# background) health-checks each appliance's /healthz and takes failing
# ones out of the route, as a target group does. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=fleet-env.sh
. "$here/fleet-env.sh"

[ "$(id -u)" = 0 ] || { echo "fleet-up: run as root (network namespaces)" >&2; exit 1; }
case $FLEET_SIZE in 2 | 3) ;; *) echo "fleet-up: VXTAP_FLEET_SIZE=$FLEET_SIZE: want 2 or 3" >&2; exit 1 ;; esac
if [ -f "$FLEET_ENV" ] && ip netns list | grep -qw "$(fleet_ns 1)"; then
	echo "fleet $P is already up ($FLEET_ENV)"
	exit 0
fi
"$here/fleet-down.sh" >/dev/null 2>&1 || true
"$here/lab-up.sh" >/dev/null

nsx() { ip netns exec "$1" "${@:2}"; }

# The NLB: the mirror target address moves out, forwarding comes in.
ip -n "$NS_NLB" addr del "$VIP_V4/24" dev "$APP_IF"
ip -n "$NS_NLB" addr del "$VIP_V6/64" dev "$APP_IF"
ip -n "$NS_NLB" addr add "$NLB_V4/24" dev "$APP_IF"
ip -n "$NS_NLB" addr add "$NLB_V6/64" dev "$APP_IF" nodad
nsx "$NS_NLB" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
	net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1 \
	net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
# The store's address: ClickHouse, started by the demo or a test, listens here.
ip -n "$NS_NLB" addr add "$DB_V4/32" dev lo

for i in $(seq "$FLEET_SIZE"); do
	ns=$(fleet_ns "$i") nic=$(fleet_if "$i") nlb=$(fleet_nlb_if "$i")
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	nsx "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
		net.ipv6.conf.all.router_solicitations=0 net.ipv6.conf.default.router_solicitations=0 \
		net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0
	ip link add "$nlb" mtu "$VPC_MTU" type veth peer name "$nic" mtu "$VPC_MTU"
	ip link set "$nlb" netns "$NS_NLB"
	ip link set "$nic" netns "$ns"
	ip -n "$NS_NLB" addr add "$(fleet_gw4 "$i")/24" dev "$nlb"
	ip -n "$NS_NLB" addr add "$(fleet_gw6 "$i")/64" dev "$nlb" nodad
	ip -n "$ns" addr add "$(fleet_v4 "$i")/24" dev "$nic"
	ip -n "$ns" addr add "$(fleet_v6 "$i")/64" dev "$nic" nodad
	# The mirror target address, as the NLB's targets see it.
	ip -n "$ns" addr add "$VIP_V4/32" dev "$nic"
	ip -n "$ns" addr add "$VIP_V6/128" dev "$nic" nodad
	ip -n "$NS_NLB" link set "$nlb" up
	ip -n "$ns" link set "$nic" up
	ip -n "$ns" route add default via "$(fleet_gw4 "$i")"
	if command -v ethtool >/dev/null; then
		nsx "$NS_NLB" ethtool -K "$nlb" tso off gso off gro off >/dev/null 2>&1 || true
		nsx "$ns" ethtool -K "$nic" tso off gso off gro off >/dev/null 2>&1 || true
	fi
	# Static neighbours: forwarding never waits for ARP or ND.
	nic_mac=$(ip -n "$ns" -br link show "$nic" | awk '{print $3}')
	nlb_mac=$(ip -n "$NS_NLB" -br link show "$nlb" | awk '{print $3}')
	ip -n "$NS_NLB" neigh replace "$(fleet_v4 "$i")" lladdr "$nic_mac" dev "$nlb" nud permanent
	ip -n "$NS_NLB" neigh replace "$(fleet_v6 "$i")" lladdr "$nic_mac" dev "$nlb" nud permanent
	ip -n "$ns" neigh replace "$(fleet_gw4 "$i")" lladdr "$nlb_mac" dev "$nic" nud permanent
	ip -n "$ns" neigh replace "$(fleet_gw6 "$i")" lladdr "$nlb_mac" dev "$nic" nud permanent
done

# Every appliance in the route to begin with (no target healthy yet: an
# NLB fails open); the health checker keeps only the healthy ones.
"$here/nlb-health.sh" --apply-all

mkdir -p "$LAB_STATE_DIR"
{
	echo "FLEET_SIZE=$FLEET_SIZE"
	echo "NLB_NS=$NS_NLB"
	echo "VIP_V4=$VIP_V4"
	echo "VIP_V6=$VIP_V6"
	echo "DB_V4=$DB_V4"
	echo "HEALTH_PORT=$HEALTH_PORT"
	echo "HEALTH_STATE=$HEALTH_STATE"
	for i in $(seq "$FLEET_SIZE"); do
		echo "APP${i}_NS=$(fleet_ns "$i")"
		echo "APP${i}_IF=$(fleet_if "$i")"
		echo "APP${i}_V4=$(fleet_v4 "$i")"
	done
} >"$FLEET_ENV"

if [ "${VXTAP_FLEET_HEALTH:-1}" = 1 ]; then
	# setsid: its own process group, stopped by PID from fleet-down.sh.
	setsid "$here/nlb-health.sh" >"$HEALTH_LOG" 2>&1 </dev/null &
	echo $! >"$HEALTH_PID"
fi

cat <<SUMMARY
fleet $P is up:
  NLB stand-in  netns $NS_NLB: $VIP_V4 / $VIP_V6 (the mirror target) spread over $FLEET_SIZE appliances by the outer 5-tuple
  appliances    $(for i in $(seq "$FLEET_SIZE"); do printf '%s (%s, /healthz on %s:%s)  ' "$(fleet_ns "$i")" "$(fleet_if "$i")" "$(fleet_v4 "$i")" "$HEALTH_PORT"; done)
  store         $DB_V4 in $NS_NLB (start ClickHouse there; appliances reach it through their default route)
  health        every ${HEALTH_INTERVAL}s, out after $HEALTH_UNHEALTHY failures, back after $HEALTH_HEALTHY passes: $HEALTH_STATE, log $HEALTH_LOG
  facts         $FLEET_ENV
SUMMARY
