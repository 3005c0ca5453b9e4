package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/cilium/ebpf"
)

// openPinnedMaps fills every *ebpf.Map field of a bpf2go maps struct from
// the pin with its `ebpf` tag name. Maps added to the C side are picked up
// without a change here.
func openPinnedMaps(dir string, maps any) error {
	v := reflect.ValueOf(maps).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name := t.Field(i).Tag.Get("ebpf")
		if name == "" || t.Field(i).Type != reflect.TypeOf((*ebpf.Map)(nil)) {
			continue
		}
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, name), nil)
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("map %s is not pinned under %s", name, dir)
		}
		if err != nil {
			return fmt.Errorf("open pinned map %s: %w", name, err)
		}
		v.Field(i).Set(reflect.ValueOf(m))
	}
	return nil
}
