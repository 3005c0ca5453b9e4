#!/usr/bin/env bash
# Installs what building, testing and the demo need on a fresh Debian
# machine (run as root): the BPF toolchain, the peers the tests compare
# against (tshark, bpftool, promtool, tmux, ClickHouse) and, when no Go >= 1.22 is on
# PATH, a Go toolchain from the Go module proxy.
set -euo pipefail

GO_VERSION=${GO_VERSION:-1.26.8}
PKGS=(clang llvm libbpf-dev bpftool tshark iproute2 ethtool tmux prometheus make git ca-certificates nfdump pmacct
	tcpdump softflowd # these two (and nfdump): baselines of make bench-live
	clickhouse-server clickhouse-client curl # ClickHouse: the fleet store's tests start their own server
	nmap hping3 dnsutils) # the findings lab scenarios: real scans, floods and DNS queries

need_apt=0
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_apt=1
done
if [ "$need_apt" = 1 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# prometheus is only wanted for promtool, clickhouse-server for tests
	# that start their own: keep their services from starting.
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
	apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
	rm -f /usr/sbin/policy-rc.d
fi

# go_ok: a Go new enough to fetch the toolchain go.mod asks for.
go_ok() {
	command -v go >/dev/null 2>&1 || return 1
	local v
	v=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
	[ "$(printf '%s\n' 1.22 "$v" | sort -V | head -1)" = 1.22 ]
}
if ! go_ok && [ -x /usr/local/go/bin/go ]; then
	export PATH=/usr/local/go/bin:$PATH
fi
if ! go_ok; then
	# Debian's own Go is too old to read go.mod; use it only to fetch the
	# official toolchain module through the Go module proxy.
	apt-get install -y -qq golang-go >/dev/null
	arch=$(dpkg --print-architecture)
	mod="golang.org/toolchain@v0.0.1-go${GO_VERSION}.linux-${arch}"
	dir=$(cd /tmp && GOFLAGS= GO111MODULE=on go mod download -json "$mod" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
	ln -sf "$dir/bin/go" /usr/local/bin/go
	ln -sf "$dir/bin/gofmt" /usr/local/bin/gofmt
fi
go version

# bpffs for pinning (systemd mounts it; minimal machines may not).
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
