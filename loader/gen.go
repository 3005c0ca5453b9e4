// Package loader loads vxtap's XDP program, attaches it and hands userspace
// narrow interfaces over its maps. It is the only package that imports
// cilium/ebpf's link package and netlink.
package loader

// The generated Go and .o files are committed so `go build` needs no clang;
// `make generate` re-runs this and CI fails on any difference. The -type
// list is every struct and enum of bpf/include/vxtap_shared.h.
//go:generate go tool bpf2go -tags linux -target bpfel -go-package loader -type flow_key -type flow_slot -type flow_shared_counts -type free_hint -type flow_bucket -type flow_slot_state -type flow_dir -type counter -type vni_counters -type flow_event -type sample_hdr -type ledger_entry -type vxtap_reason -type vxtap_const -type source_lpm_key -type offender_key -type overflow_key -type overflow_vni_key -type overflow_val -type overflow_ledger_key -type vxtap_flag -type vxtap_event_type -type filter_session_key -type filter_session -type filter_vni_slot -type filter_vni_kind -type filter_eni_key -type filter_lpm6_key -type filter_v4_node -type filter_lpm_val -type filter_bitset -type filter_port_block -type filter_rule -type filter_ruleset_meta -type filter_action -type filter_dir -type filter_mode -type filter_unknown -type filter_slot_kind -type filter_const -type filter_verdict -type filter_layout -type flow_mark -type threat_side -type threat_lpm_key -type threat_event -type capture_const -type capture_term_kind -type capture_term -type capture_slot -type capture_counters -type capture_hdr -type capture_ctl Vxtap ../bpf/xdp_vxtap.c -- -O2 -mcpu=v3 -g -Wall -Werror -I../bpf/include -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu
// The decap feed's companions (peer XDP_PASS, failure tracepoints), loaded
// only with --decap-to; their types are the main object's.
//go:generate go tool bpf2go -tags linux -target bpfel -go-package loader -no-global-types DecapTrace ../bpf/decap_trace.c -- -O2 -mcpu=v3 -g -Wall -Werror -I../bpf/include -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu
// Test-only BPF (bpf/test/) is generated into _test files, so the vxtap
// binary never carries it: Linear is the classifier benchmark's baseline,
// Empty the harness cost of BenchmarkXDP.
//go:generate go tool bpf2go -tags linux -target bpfel -go-package loader -output-suffix _test -no-global-types -type linear_rule Linear ../bpf/test/xdp_linear.c -- -O2 -mcpu=v3 -g -Wall -Werror -I../bpf/include -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu
//go:generate go tool bpf2go -tags linux -target bpfel -go-package loader -output-suffix _test -no-global-types Empty ../bpf/test/xdp_empty.c -- -O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu
