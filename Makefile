# vxtap: `make help` lists every target.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
BIN := bin/vxtap
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# Privileged tests fail instead of skipping under `make test` (run as root).
export VXTAP_REQUIRE_PRIVILEGED ?= 1

.PHONY: help deps generate check-generate build test test-unit corpus bench torture demo lab-up lab-down vet clean

help: ## list every target
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-15s %s\n", $$1, $$2}'

deps: ## install the toolchain and test peers (Debian, as root)
	bash scripts/deps.sh

generate: ## regenerate the bpf2go Go bindings and objects from bpf/
	$(GO) generate ./loader/

check-generate: generate ## fail if the committed generated code differs from bpf/
	@git diff --exit-code --stat -- loader/ || { echo "generated BPF code is stale: run make generate and commit"; exit 1; }

build: ## build bin/vxtap
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/vxtap

vet: ## go vet every package
	$(GO) vet ./...

test: build ## every test, privileged ones included (root: BPF, netns, lab)
	$(GO) test -count=1 -timeout 40m ./...

test-unit: ## only the tests that need no privileges
	VXTAP_REQUIRE_PRIVILEGED=0 $(GO) test -count=1 -short ./...

corpus: build ## analyze the 12 real captures and diff against their tshark truth
	@for f in ../shared/corpus/real/*.pcap; do \
		./$(BIN) analyze --format tsv "$$f" | diff -q - "$${f%.pcap}.truth.tsv" >/dev/null \
			&& echo "ok   $$(basename $$f)" || { echo "FAIL $$(basename $$f)"; exit 1; }; done

bench: ## benchmarks: ns per packet through BPF_PROG_TEST_RUN, then the 1M-flow sweep (budget 250 ms)
	$(GO) test -run '^$$' -bench 'BenchmarkXDP|BenchmarkClassify' -benchtime 2000000x -count 3 ./loader/
	$(GO) test -run '^$$' -bench '1M' -benchtime 10x -count 1 ./loader/ ./userspace/...

torture: ## the differential torture: 200,000 generated frames through XDP and the Go reference parser (go test runs 20,000)
	VXTAP_TORTURE_N=200000 $(GO) test -count=1 -timeout 30m -run TestTortureDifferential -v ./loader/ | tail -3

demo: build ## the built-in lab: two mirror sources, vxtap, traffic, top talkers
	bash scripts/demo.sh

lab-up: ## bring the netns lab up (two VXLAN mirror sources, the appliance)
	bash scripts/lab-up.sh

lab-down: ## remove everything the lab created
	bash scripts/lab-down.sh

clean: ## remove build output
	rm -rf bin
