#!/usr/bin/env bash
# The fleet in the lab: the NLB stand-in spreads both mirror sources'
# VXLAN over two appliances (by the outer 5-tuple), each runs `vxtap run
# --clickhouse` into one ClickHouse server (Debian's clickhouse-server,
# started here with its own config and data under a temp dir); traffic
# runs, one appliance is killed and comes back (the health check takes it
# out and puts it back), then the fleet-wide top view and reports, and a
# check that ClickHouse holds exactly what was sent. Everything is torn
# down at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=${VXTAP_BIN:-$root/bin/vxtap}
duration=${DEMO_DURATION:-16s}
export VXTAP_LAB_PREFIX=${VXTAP_LAB_PREFIX:-vxfleet}
export VXTAP_HEALTH_INTERVAL=${VXTAP_HEALTH_INTERVAL:-1}
# shellcheck source=fleet-env.sh
. "$here/fleet-env.sh"

[ "$(id -u)" = 0 ] || { echo "demo-fleet: run as root (network namespaces, XDP)" >&2; exit 1; }
[ -x "$bin" ] || { echo "demo-fleet: $bin missing: run make build" >&2; exit 1; }
command -v clickhouse-server >/dev/null || { echo "demo-fleet: clickhouse-server missing: run make deps" >&2; exit 1; }
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

work=$(mktemp -d /tmp/vxtap-fleet.XXXXXX)
pids=()
ch_pid=
cleanup() {
	for p in "${pids[@]}"; do
		if kill -0 "$p" 2>/dev/null; then kill -TERM "$p"; wait "$p" 2>/dev/null || true; fi
	done
	if [ -n "$ch_pid" ] && kill -0 "$ch_pid" 2>/dev/null; then kill -TERM "$ch_pid"; wait "$ch_pid" 2>/dev/null || true; fi
	"$here/fleet-down.sh" >/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
in_nlb() { nsenter --net="/run/netns/$NS_NLB" "$@"; }
ch_tcp=19000 ch_http=18123
url=clickhouse://$DB_V4:$ch_tcp

step "fleet up: NLB stand-in + 2 appliances"
VXTAP_FLEET_SIZE=2 "$here/fleet-up.sh"

step "ClickHouse in $NS_NLB on $DB_V4 (its own config and data: $work/ch)"
mkdir -p "$work/ch/data" "$work/ch/tmp" "$work/ch/log" "$work/ch/user_files" "$work/ch/format_schemas"
cat >"$work/ch/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$work/ch/log/server.log</log><errorlog>$work/ch/log/err.log</errorlog><size>10M</size><count>1</count></logger>
  <http_port>$ch_http</http_port><tcp_port>$ch_tcp</tcp_port><listen_host>$DB_V4</listen_host>
  <path>$work/ch/data/</path><tmp_path>$work/ch/tmp/</tmp_path><user_files_path>$work/ch/user_files/</user_files_path>
  <format_schema_path>$work/ch/format_schemas/</format_schema_path>
  <users_config>$work/ch/users.xml</users_config><default_profile>default</default_profile><default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size><timezone>UTC</timezone>
</yandex>
XML
cat >"$work/ch/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>198.18.0.0/15</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
nsenter --net="/run/netns/$NS_NLB" clickhouse-server --config-file="$work/ch/config.xml" >"$work/ch/log/stdout" 2>&1 &
ch_pid=$!
for _ in $(seq 100); do in_nlb curl -fs "http://$DB_V4:$ch_http/?query=SELECT%201" >/dev/null 2>&1 && break; sleep 0.2; done
in_nlb "$bin" db init --clickhouse "$url"

start_app() { # start_app I
	local i=$1
	nsenter --net="/run/netns/$(fleet_ns "$i")" "$bin" run --iface "$(fleet_if "$i")" --instance "app$i" \
		--listen "$(fleet_v4 "$i"):$HEALTH_PORT" --config "$LAB_SESSIONS" --state-dir "$work/app$i" \
		--flow-log "$work/app$i.flows.json" --active-timeout 5s --idle-timeout 3s \
		--clickhouse "$url" --clickhouse-flush-interval 1s 2>>"$work/app$i.log" &
	pids[$i]=$!
}
step "vxtap run --clickhouse $url on each appliance"
start_app 1
start_app 2
for _ in $(seq 120); do # until the health check has both in the target group
	[ "$(tr -d '\n' <"$HEALTH_STATE")" = "1 up2 up" ] && ip -n "$NS_NLB" route show "$VIP_V4/32" | grep -q "$(fleet_v4 1)" && break
	sleep 0.5
done
echo "health: $(tr '\n' ' ' <"$HEALTH_STATE")"
[ "$(tr -d '\n' <"$HEALTH_STATE")" = "1 up2 up" ] || { echo "the appliances did not come up:"; cat "$work"/app*.log; exit 1; }

step "traffic for $duration from both mirror sources; appliance 1 killed (SIGKILL) after 5 s, back after 9 s"
"$bin" trafficgen --duration "$duration" --out "$work/expected.tsv" &
gen=$!
sleep 5
kill -KILL "${pids[1]}"
wait "${pids[1]}" 2>/dev/null || true
sleep 4 # the health check takes it out; its XDP program (pinned) counts on meanwhile
echo "health: $(tr '\n' ' ' <"$HEALTH_STATE")  route: $(ip -n "$NS_NLB" route show "$VIP_V4/32" | tr -s ' \n' ' ')"
start_app 1 # re-opens the pinned program and carries on
wait "$gen"
sleep 3
tail -n 4 "$HEALTH_LOG"

step "fleet top talkers, last 5 minutes (vxtap top --clickhouse), per conversation across appliances"
in_nlb "$bin" top --clickhouse "$url" --since 5m --once --group pair --sort bytes --n 8
echo
in_nlb "$bin" top --clickhouse "$url" --since 5m --once --group appliance --sort bytes

step "stop the appliances (SIGTERM: final sweeps shipped)"
for i in 1 2; do kill -TERM "${pids[$i]}"; wait "${pids[$i]}" || true; done
pids=()

step "report: who talked to $PEER1_V4 on TCP, per source (vxtap report --clickhouse)"
in_nlb "$bin" report --clickhouse "$url" --since 1h --group src --filter "dst $PEER1_V4 tcp"
step "report: UDP per destination port, CSV"
in_nlb "$bin" report --clickhouse "$url" --since 1h --group dport --filter udp --format csv

step "check: ClickHouse against what crossed the mirrored interfaces"
# The truth layout straight from ClickHouse (HTTP interface, TabSeparated).
in_nlb curl -fsS "http://$DB_V4:$ch_http/" --data-binary "SELECT vni, replaceOne(IPv6NumToString(src), '::ffff:', ''),
	replaceOne(IPv6NumToString(dst), '::ffff:', ''), proto, sport, dport, sum(packets), sum(bytes)
	FROM vxtap.flows GROUP BY vni, src, dst, proto, sport, dport FORMAT TabSeparated" | sort >"$work/stored.tsv"
tail -n +2 "$work/expected.tsv" | sort >"$work/sent.tsv"
if diff -u "$work/sent.tsv" "$work/stored.tsv" >"$work/diff.txt"; then
	echo "exact: $(wc -l <"$work/sent.tsv") flows, every packet and byte stored once, across both appliances and a kill"
else
	echo "MISMATCH between sent and stored:"
	cat "$work/diff.txt"
	grep -h clickhouse "$work"/app*.log | tail -n 20 || true
	keep=/tmp/vxtap-fleet-failed.$$
	mkdir -p "$keep" && cp "$work"/*.log "$work"/*.tsv "$work"/*.json "$keep"/ 2>/dev/null
	echo "logs, flow logs and both sides of the check kept in $keep"
	exit 1
fi
