#!/usr/bin/env bash
# The live benchmark of issue 15 (make bench-live): crafted VXLAN mirror
# copies injected at full rate into a veth (BPF_PROG_RUN live frames),
# counted at the receiving veth, for XDP_DROP, touch, vxtap run (defaults,
# 4,096 rules, sampling 1 in 64, a new-flow flood), tcpdump and softflowd,
# interleaved, in both CPU modes, several repetitions each. Writes
# docs/bench-live.csv (every run), docs/bench-live.json (medians, spread,
# machine), docs/bench-live.png (the chart) and the table in
# docs/PERFORMANCE.md; then, for tcpdump and softflowd, a rate each handles
# without loss (benchlive lossless, paced runs: docs/bench-live-lossless.csv
# and its table). Extra arguments go to `benchlive run` (-h lists them:
# --reps, --frames, --frame-len, --flows, --vnis, --new-every, ...);
# BENCH_LIVE_LOSSLESS_ARGS to `benchlive lossless` (empty: skip it).
# Needs root; the lab (two namespaces, a veth pair) is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
PREFIX=${VXTAP_LAB_PREFIX:-vxbench}
RUN_DIR=${VXTAP_RUN_DIR:-/run/vxtap-bench}
PIN_ROOT=${VXTAP_PIN_ROOT:-/sys/fs/bpf/vxtap-$PREFIX}
OUT=${BENCH_LIVE_OUT:-docs}

go build -o bin/vxtap ./cmd/vxtap
go build -o bin/benchlive ./loader/livebench/cmd/benchlive
mkdir -p "$OUT"
csv=$OUT/bench-live.csv
rm -f "$csv"
# Fewer Go preemption signals: each one restarts a BPF_PROG_RUN call.
GODEBUG=asyncpreemptoff=1 bin/benchlive run --prefix "$PREFIX" --run-dir "$RUN_DIR" --pin-root "$PIN_ROOT" \
	--vxtap bin/vxtap --csv "$csv" "$@"
bin/benchlive report --csv "$csv" --json "$OUT/bench-live.json" --png "$OUT/bench-live.png" \
	--doc docs/PERFORMANCE.md --command "make bench-live${*:+ BENCH_LIVE_ARGS='$*'}"
LOSSLESS_ARGS=${BENCH_LIVE_LOSSLESS_ARGS---receivers tcpdump,softflowd --frames 1000000}
if [ -n "$LOSSLESS_ARGS" ]; then
	rm -f "$OUT/bench-live-lossless.csv"
	# shellcheck disable=SC2086 # word splitting of the arguments is wanted
	GODEBUG=asyncpreemptoff=1 bin/benchlive lossless --prefix "$PREFIX" --run-dir "$RUN_DIR" --pin-root "$PIN_ROOT" \
		--vxtap bin/vxtap --csv "$OUT/bench-live-lossless.csv" --doc docs/PERFORMANCE.md $LOSSLESS_ARGS
fi
