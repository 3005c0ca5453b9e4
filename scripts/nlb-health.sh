#!/usr/bin/env bash
# The NLB stand-in's target group health check: every HEALTH_INTERVAL
# seconds, GET http://<appliance>:HEALTH_PORT/healthz from the NLB
# namespace (an NLB cannot health-check UDP: it checks vxtap's HTTP
# endpoint). A target that fails HEALTH_UNHEALTHY checks in a row leaves
# the multipath route of the mirror target address; one that passes
# HEALTH_HEALTHY in a row comes back. With no healthy target the route
# keeps them all (an NLB fails open). --apply-all only installs the
# route over every appliance and exits.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=fleet-env.sh
. "$here/fleet-env.sh"

# route I... sets the mirror target's routes to the listed appliances.
route() {
	local v4=() v6=() i
	for i in "$@"; do
		v4+=(nexthop via "$(fleet_v4 "$i")" dev "$(fleet_nlb_if "$i")")
		v6+=(nexthop via "$(fleet_v6 "$i")" dev "$(fleet_nlb_if "$i")")
	done
	ip -n "$NS_NLB" route replace "$VIP_V4/32" "${v4[@]}"
	ip -n "$NS_NLB" -6 route replace "$VIP_V6/128" "${v6[@]}"
}

if [ "${1:-}" = --apply-all ]; then
	route $(seq "$FLEET_SIZE")
	exit 0
fi

# Targets start out of service, as an NLB's "initial" ones: each must
# pass HEALTH_HEALTHY checks first (meanwhile the route keeps them all:
# with none healthy an NLB fails open).
declare -A up pass fail
for i in $(seq "$FLEET_SIZE"); do up[$i]=0 pass[$i]=0 fail[$i]=0; done
write_state() {
	local i
	for i in $(seq "$FLEET_SIZE"); do
		[ "${up[$i]}" = 1 ] && echo "$i up" || echo "$i down"
	done >"$HEALTH_STATE.tmp"
	mv "$HEALTH_STATE.tmp" "$HEALTH_STATE"
}
write_state
# Bounded by the fleet's lifetime: fleet-down.sh stops it by PID, and it
# stops by itself once the NLB namespace is gone.
while ip netns list | grep -qw "$NS_NLB"; do
	changed=0
	for i in $(seq "$FLEET_SIZE"); do
		if ip netns exec "$NS_NLB" curl -fsS -o /dev/null --max-time "$HEALTH_TIMEOUT" "http://$(fleet_v4 "$i"):$HEALTH_PORT/healthz" 2>/dev/null; then
			pass[$i]=$((pass[$i] + 1)) fail[$i]=0
		else
			fail[$i]=$((fail[$i] + 1)) pass[$i]=0
		fi
		if [ "${up[$i]}" = 1 ] && [ "${fail[$i]}" -ge "$HEALTH_UNHEALTHY" ]; then
			up[$i]=0 changed=1
			echo "$(date -u +%T) appliance $i unhealthy after ${fail[$i]} failed checks: out of the target group"
		elif [ "${up[$i]}" = 0 ] && [ "${pass[$i]}" -ge "$HEALTH_HEALTHY" ]; then
			up[$i]=1 changed=1
			echo "$(date -u +%T) appliance $i healthy after ${pass[$i]} passed checks: back in the target group"
		fi
	done
	if [ "$changed" = 1 ]; then
		healthy=()
		for i in $(seq "$FLEET_SIZE"); do [ "${up[$i]}" = 1 ] && healthy+=("$i"); done
		if [ "${#healthy[@]}" = 0 ]; then
			echo "$(date -u +%T) no healthy appliance: failing open to all"
			route $(seq "$FLEET_SIZE")
		else
			route "${healthy[@]}"
		fi
		write_state
	fi
	sleep "$HEALTH_INTERVAL"
done
