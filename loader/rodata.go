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
	info, err := prog.Info()
	if err != nil {
		return false, fmt.Errorf("read program info: %w", err)
	}
	ids, _ := info.MapIDs()
	for _, id := range ids {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			continue
		}
		mi, err := m.Info()
		if err != nil || !strings.HasSuffix(mi.Name, ".rodata") || mi.ValueSize <= vs.Offset {
			m.Close()
			continue
		}
		buf := make([]byte, mi.ValueSize)
		err = m.Lookup(uint32(0), buf)
		m.Close()
		if err != nil {
			return false, fmt.Errorf("read .rodata: %w", err)
		}
		return buf[vs.Offset] != 0, nil
	}
	return false, fmt.Errorf("the program has no .rodata holding %s", name)
}
