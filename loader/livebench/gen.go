// Package livebench is the live benchmark of issue 15: a traffic
// generator that injects crafted VXLAN mirror copies into a veth with
// BPF_PROG_RUN live frames, and the baseline receivers vxtap is measured
// against (XDP_DROP, the ceiling; touch, the floor any analyzer pays;
// flow-floor and flow-map, per-flow counting at its least and as the
// kernel's hash map does it).
// These programs are test tools: they live here, not in the vxtap binary.
package livebench

// Generated Go and .o files are committed, like loader's (`make generate`).
//go:generate go tool bpf2go -tags linux -target bpfel -go-package livebench LiveGen ../../bpf/test/live/live_gen.c -- -O2 -mcpu=v3 -g -Wall -Werror -I../../bpf/test/live -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu
//go:generate go tool bpf2go -tags linux -target bpfel -go-package livebench LiveDrop ../../bpf/test/live/live_drop.c -- -O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu
//go:generate go tool bpf2go -tags linux -target bpfel -go-package livebench -type touch_count LiveTouch ../../bpf/test/live/live_touch.c -- -O2 -mcpu=v3 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu
//go:generate go tool bpf2go -tags linux -target bpfel -go-package livebench -type live_flow_key -type live_flow_counts -type live_flow_stats LiveFlowMap ../../bpf/test/live/live_flow_map.c -- -O2 -mcpu=v3 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu
//go:generate go tool bpf2go -tags linux -target bpfel -go-package livebench -type floor_line -type floor_const -type live_flow_stats LiveFlowFloor ../../bpf/test/live/live_flow_floor.c -- -O2 -mcpu=v3 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu
