#!/usr/bin/env bash
# Removes everything lab-up.sh created: its namespaces (and with them every
# link inside) and its facts file. Succeeds when nothing is there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab-env.sh
. "$here/lab-env.sh"

for ns in "$NS_APP" "$NS_VPC" "$NS_SRC1" "$NS_SRC2" "$NS_PEER1" "$NS_PEER2"; do
	if ip netns list | grep -qw "$ns"; then
		# Processes still inside (a daemon, a generator) go first, by PID.
		for pid in $(ip netns pids "$ns" 2>/dev/null); do not_ours "$pid" && kill "$pid" 2>/dev/null || true; done
		ip netns del "$ns"
	fi
done
# veth halves left in the root namespace by an interrupted lab-up.
for l in "$P-a" "$P-s1" "$P-s2" "$P-w" "$P-p"; do
	ip link del "$l" 2>/dev/null || true
done
rm -f "$LAB_ENV" "$LAB_SESSIONS"
echo "lab $P is down"
