package loader

import (
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
)

// pinnedSwitch reads a one-byte load-time switch (a volatile const of
// config.h) of a loaded program from its .rodata map, so a daemon that
// re-opens a pinned program knows how that program was loaded.
func pinnedSwitch(prog *ebpf.Program, spec *ebpf.CollectionSpec, name string) (bool, error) {
	vs, ok := spec.Variables[name]
	if !ok || vs.Size() != 1 {
		return false, fmt.Errorf("BPF object has no one-byte variable %s", name)
	}
	m, err := progMap(prog, func(mi *ebpf.MapInfo) bool {
		return strings.HasSuffix(mi.Name, ".rodata") && mi.ValueSize > vs.Offset
	})
	if err != nil {
		return false, err
	}
	if m == nil {
		return false, fmt.Errorf("the program has no .rodata holding %s", name)
	}
	defer m.Close()
	buf := make([]byte, m.ValueSize())
	if err := m.Lookup(uint32(0), buf); err != nil {
		return false, fmt.Errorf("read .rodata: %w", err)
	}
	return buf[vs.Offset] != 0, nil
}

// progMap is the first map of prog that match says yes to, nil if none
// (the caller closes it).
func progMap(prog *ebpf.Program, match func(*ebpf.MapInfo) bool) (*ebpf.Map, error) {
	info, err := prog.Info()
	if err != nil {
		return nil, fmt.Errorf("read program info: %w", err)
	}
	ids, _ := info.MapIDs()
	for _, id := range ids {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			continue // gone meanwhile: not the program's any more
		}
		if mi, err := m.Info(); err == nil && match(mi) {
			return m, nil
		}
		m.Close()
	}
	return nil, nil
}
