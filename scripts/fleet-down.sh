#!/usr/bin/env bash
# Removes everything fleet-up.sh created: the health checker (by its
# PID), the appliance namespaces (processes inside stopped by PID first)
# and the lab under them. Succeeds when nothing is there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=fleet-env.sh
. "$here/fleet-env.sh"

if [ -f "$HEALTH_PID" ]; then
	kill "$(cat "$HEALTH_PID")" 2>/dev/null || true
	rm -f "$HEALTH_PID"
fi
for i in 1 2 3; do
	ns=$(fleet_ns "$i")
	if ip netns list | grep -qw "$ns"; then
		for pid in $(ip netns pids "$ns" 2>/dev/null); do not_ours "$pid" && kill "$pid" 2>/dev/null || true; done
		ip netns del "$ns"
	fi
	ip link del "$(fleet_nlb_if "$i")" 2>/dev/null || true
	ip link del "$(fleet_if "$i")" 2>/dev/null || true
done
"$here/lab-down.sh" >/dev/null
rm -f "$FLEET_ENV" "$HEALTH_STATE" "$HEALTH_STATE.tmp" "$HEALTH_LOG"
echo "fleet $P is down"
