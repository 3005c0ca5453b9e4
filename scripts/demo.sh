#!/usr/bin/env bash
# The main job on the built-in lab: two Linux VXLAN mirror sources (VNIs
# 101 and 102) copy their workloads' traffic to the appliance, where vxtap
# runs in XDP; a known mix runs for about 20 s; then the flow table, the
# counters and the top talkers, and a check that vxtap counted exactly
# what was sent. Everything is torn down at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=${VXTAP_BIN:-$root/bin/vxtap}
duration=${DEMO_DURATION:-20s}
export VXTAP_LAB_PREFIX=${VXTAP_LAB_PREFIX:-vxdemo}
# shellcheck source=lab-env.sh
. "$here/lab-env.sh"

[ "$(id -u)" = 0 ] || { echo "demo: run as root (network namespaces, XDP)" >&2; exit 1; }
[ -x "$bin" ] || { echo "demo: $bin missing: run make build" >&2; exit 1; }
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

work=$(mktemp -d /tmp/vxtap-demo.XXXXXX)
daemon_pid=
cleanup() {
	if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
		kill -TERM "$daemon_pid"
		wait "$daemon_pid" || true
	fi
	"$here/lab-down.sh" >/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
in_app() { nsenter --net="/run/netns/$NS_APP" "$@"; }

step "lab up"
"$here/lab-up.sh"

step "vxtap run on $APP_IF (netns $NS_APP)"
# nsenter, not a shell function: $! must be vxtap itself (nsenter execs it).
nsenter --net="/run/netns/$NS_APP" "$bin" run --iface "$APP_IF" --config "$LAB_SESSIONS" --flow-log "$work/flows.json" --state-dir "$work/state" --sample-rate 50 \
	--sample-file "$work/samples.pcapng" --active-timeout 10s 2>"$work/vxtap.log" &
daemon_pid=$!
for _ in $(seq 100); do
	# The state file is keyed by interface and network namespace (<if>:ns<inode>).
	compgen -G "${VXTAP_RUN_DIR:-/run/vxtap}/$APP_IF:ns*.json" >/dev/null && break
	sleep 0.1
done
kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/vxtap.log"; exit 1; }
in_app "$bin" status --iface "$APP_IF" | sed -n '1,4p;/^allowed sources/p' 
echo "health: $(in_app curl -s http://127.0.0.1:9781/healthz)"

step "traffic for $duration: TCP both ways, UDP, ICMP, over IPv4 and IPv6, from both sources"
"$bin" trafficgen --duration "$duration" --out "$work/expected.tsv" &
gen_pid=$!
sleep 5

step "live top talkers (vxtap top --once; run vxtap top for the interactive view)"
"$bin" top --once --iface "$APP_IF" --n 10
echo
"$bin" top --once --iface "$APP_IF" --group src --sort bytes
wait "$gen_pid"

step "a spoofed copy: VXLAN for VNI $SRC1_VNI from 198.18.0.99, no mirror source (refused in XDP, never accounted)"
# VXLAN header (I flag, VNI 101) and an inner Ethernet/IPv4/UDP frame.
printf '\x08\x00\x00\x00\x00\x00\x65\x00\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00\x45\x00\x00\x1c\x00\x00\x00\x00\x40\x11\x00\x00\xc6\x13\x01\x01\xc6\x13\x01\x02\x30\x39\x00\x35\x00\x08\x00\x00' >"$work/spoof.bin"
ip netns exec "$NS_SRC1" hping3 --udp -p 4789 -s 40000 -k -a 198.18.0.99 -c 5 -i u10000 -E "$work/spoof.bin" -d 50 "$APP_V4" >/dev/null 2>&1 || true
sleep 0.2
in_app "$bin" status --iface "$APP_IF" | sed -n '/^copies refused/p;/^refused outer sources/,/^$/p'

step "counters and flow table while running"
in_app "$bin" status --iface "$APP_IF"
echo
in_app curl -s http://127.0.0.1:9781/metrics | grep -E '^vxtap_(packets_total|flow_table_flows|ringbuf_lost_total)' | grep -v ' 0$' || true

step "stop vxtap (SIGTERM: final sweep, every live flow emitted, program detached)"
kill -TERM "$daemon_pid"
wait "$daemon_pid" || { echo "vxtap exited with $?:"; cat "$work/vxtap.log"; exit 1; }
daemon_pid=
tail -n 2 "$work/vxtap.log"
echo "$(wc -l <"$work/flows.json") flow records written, $(tshark -r "$work/samples.pcapng" 2>/dev/null | wc -l) packets sampled to pcapng"

step "top talkers over the whole run (from the flow records)"
"$bin" report --top 15 "$work/flows.json"

step "check: vxtap's records against what crossed the mirrored interfaces"
"$bin" report --format tsv "$work/flows.json" >"$work/seen.tsv"
if diff -u "$work/expected.tsv" "$work/seen.tsv" >"$work/diff.txt"; then
	echo "exact: $(($(wc -l <"$work/expected.tsv") - 1)) flows, every packet and byte accounted, none twice"
else
	echo "MISMATCH between sent and counted:"
	cat "$work/diff.txt"
	exit 1
fi
