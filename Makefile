# vxtap: `make help` lists every target.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
BIN := bin/vxtap
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# Privileged tests fail instead of skipping under `make test` (run as root).
export VXTAP_REQUIRE_PRIVILEGED ?= 1

.PHONY: help deps generate check-generate check-tidy build test test-unit corpus bench bench-ab bench-ref bench-detect bench-live profile torture fuzz soak demo demo-fleet lab-up lab-down fleet-up fleet-down vet clean

help: ## list every target
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-15s %s\n", $$1, $$2}'

deps: ## install the toolchain and test peers (Debian, as root)
	bash scripts/deps.sh

generate: ## regenerate the bpf2go Go bindings and objects from bpf/
	$(GO) generate ./loader/...

check-generate: generate ## fail if the committed generated code differs from bpf/
	@git diff --exit-code --stat -- loader/ || { echo "generated BPF code is stale: run make generate and commit"; exit 1; }

check-tidy: ## fail if go mod tidy would change go.mod or go.sum
	$(GO) mod tidy
	@git diff --exit-code -- go.mod go.sum || { echo "go.mod/go.sum are not tidy: run go mod tidy and commit"; exit 1; }

build: ## build bin/vxtap
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/vxtap

vet: ## go vet every package
	$(GO) vet ./...

test: build ## every test, privileged ones included (root: BPF, netns, lab), then a 2-minute soak
	$(GO) test -count=1 -timeout 40m ./...
	$(MAKE) --no-print-directory soak SOAK=2m

test-unit: ## only the tests that need no privileges
	VXTAP_REQUIRE_PRIVILEGED=0 $(GO) test -count=1 -short ./...

corpus: build ## analyze the 12 real captures and diff against their tshark truth
	@for f in ../shared/corpus/real/*.pcap; do \
		./$(BIN) analyze --format tsv "$$f" | diff -q - "$${f%.pcap}.truth.tsv" >/dev/null \
			&& echo "ok   $$(basename $$f)" || { echo "FAIL $$(basename $$f)"; exit 1; }; done

bench: ## benchmarks: ns per packet (BPF_PROG_TEST_RUN; live captures too), 1M-flow sweep (250 ms), ring drain (2 M records/s), RSS at 1M flows (384 MiB)
	$(GO) test -run '^$$' -bench 'BenchmarkXDP|BenchmarkClassify|BenchmarkCapture' -benchtime 2000000x -count 3 ./loader/ ./loader/livebench/
	$(GO) test -run '^$$' -bench 'BenchmarkAlternated' -benchtime 2000x ./loader/livebench/
	$(GO) test -run '^$$' -bench 'Sweep1M|Walk1M|Recover1M|Build1M|View1M' -benchtime 10x -count 1 ./loader/ ./userspace/...
	$(GO) test -run '^$$' -bench 'RingDrain' -benchtime 10x -count 3 ./loader/
	$(GO) test -run '^$$' -bench 'DaemonMemory1M' -benchtime 1x -count 1 ./loader/

# The git revision bench-ab compares this build with, and its alternations.
AB_BASE ?= HEAD
AB_N ?= 300x

bench-ab: ## this build's XDP program against AB_BASE's (a git revision) in one process, alternated on one CPU (root): minima, medians, this/base ratio quantiles; AB_BASE=612ba1f AB_N=300x
	@mkdir -p bin
	git show $(AB_BASE):loader/vxtap_bpfel.o > bin/ab-base.o
	VXTAP_AB_BASE=$(CURDIR)/bin/ab-base.o $(GO) test -run '^$$' -bench 'BenchmarkXDPAgainst' -benchtime $(AB_N) ./loader/

bench-ref: ## in-kernel ns per packet of touch, the per-flow references (flow-floor, flow-map) and vxtap on an existing flow, alternated in one process (root): minima, medians, ratios to touch
	$(GO) test -run '^$$' -bench 'BenchmarkAlternated' -benchtime 2000x ./loader/livebench/

bench-detect: ## detector memory with 1,000,000 distinct sources: bytes per source and in total
	$(GO) test -run '^$$' -bench 'BenchmarkDetectMemory' -benchtime 1x -count 1 ./userspace/detect/

soak: build ## the lab for 10 minutes (SOAK=10m) under SIGKILL restarts, SIGHUP reloads and a full-then-freed flow-log disk: exact records, flat memory
	set -o pipefail; VXTAP_SOAK=$(or $(SOAK),10m) $(GO) test -count=1 -timeout 60m -run '^TestSoak$$' -v ./cmd/vxtap/ | grep -E '^(=== RUN|--- |\s+soak_test|ok|FAIL|PASS|panic)'

torture: ## the differential torture: 200,000 generated frames through XDP and the Go reference parser (go test runs 20,000)
	set -o pipefail; VXTAP_TORTURE_N=200000 $(GO) test -count=1 -timeout 30m -run TestTortureDifferential -v ./loader/ | tail -3

# Every decoder of outside input, as package:FuzzTarget; seeds in each
# package's testdata/fuzz/<target>/.
FUZZ_TARGETS := ./userspace/capture:FuzzReader ./userspace/filter:FuzzConfigYAML ./userspace/filter:FuzzAWSJSON \
	./loader:FuzzDecodeEvent ./userspace/topview:FuzzParseFilter ./userspace/api:FuzzParseQuery ./userspace/report:FuzzReadRecords
FUZZTIME ?= 30s
FUZZFLAGS ?=                     # e.g. -parallel 1 on a shared machine

fuzz: ## run each fuzz target for FUZZTIME (default 30s); a crasher lands in testdata/fuzz: commit it as a seed
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "== $$fn ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) $$pkg; done

# The lossless search after the live benchmark (empty: skip it).
BENCH_LIVE_LOSSLESS_ARGS ?= --receivers tcpdump,softflowd --frames 1000000
# The BenchmarkXDPTouch case `make profile` samples, and its repetitions.
PROFILE_BENCH ?= vxlan-ipv4-tcp-existing-flow
PROFILE_N ?= 20000000x

profile: ## where vxtap's XDP program spends its time, by source line (root, perf): a BenchmarkXDPTouch case sampled; PROFILE_BENCH=vxlan-ipv4-tcp-new-flow-flood PROFILE_N=2000000x
	$(GO) test -c -o bin/livebench.test ./loader/livebench/
	$(GO) build -o bin/xdpprof ./loader/livebench/cmd/xdpprof
	cd loader/livebench && ../../bin/xdpprof -- ../../bin/livebench.test -test.run '^$$' -test.bench 'BenchmarkXDPTouch/$(PROFILE_BENCH)$$' -test.benchtime $(PROFILE_N)

bench-live: ## live benchmark (root): vxtap vs XDP_DROP, touch, tcpdump, softflowd on a veth, then their lossless rates; docs/bench-live.*, docs/PERFORMANCE.md; BENCH_LIVE_ARGS='--reps 5 --frames 5000000'
	BENCH_LIVE_LOSSLESS_ARGS="$(BENCH_LIVE_LOSSLESS_ARGS)" bash scripts/bench-live.sh $(BENCH_LIVE_ARGS)

demo: build ## the built-in lab: two mirror sources, vxtap, traffic, top talkers
	bash scripts/demo.sh

demo-fleet: build ## the lab fleet: NLB stand-in, 2 appliances, ClickHouse, a kill, fleet top and reports
	bash scripts/demo-fleet.sh

fleet-up: ## bring the lab fleet up (NLB stand-in with health checks, 2-3 appliances)
	bash scripts/fleet-up.sh

fleet-down: ## remove everything the lab fleet created
	bash scripts/fleet-down.sh

lab-up: ## bring the netns lab up (two VXLAN mirror sources, the appliance)
	bash scripts/lab-up.sh

lab-down: ## remove everything the lab created
	bash scripts/lab-down.sh

clean: ## remove build output
	rm -rf bin
