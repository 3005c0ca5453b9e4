package loader

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/vxtap/vxtap/userspace/testutil"
)

// TestFilterGenSessionsBit: with no rule set applied, filter_gen says so
// (the data path then looks no session up); Apply sets the bit with its
// sessions; and tables re-opened from pins with sessions but without the
// bit (applied by an older vxtap) get it back at load, so their rules
// keep deciding.
func TestFilterGenSessionsBit(t *testing.T) {
	testutil.RequirePrivileged(t)
	dir := filepath.Join("/sys/fs/bpf", fmt.Sprintf("vxtap-test-gen-%d", os.Getpid()))
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := DefaultConfig()
	cfg.FilterEnabled = true
	cfg.PinPath = dir
	cfg.FlowTableSize = 1024
	bit := uint32(VxtapFilterConstFILTER_GEN_SESSIONS)
	word := func(o *Objects) uint32 {
		var w uint32
		if err := o.FilterGen.Lookup(uint32(0), &w); err != nil {
			t.Fatal(err)
		}
		return w
	}
	o, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if w := word(o); w&bit != 0 {
		t.Fatalf("filter_gen %#x before any rule set: sessions bit set", w)
	}
	if _, err := o.FilterMaps().Apply(compileYAML(t, "A.yaml", reloadA)); err != nil {
		t.Fatal(err)
	}
	w := word(o)
	if w&bit == 0 {
		t.Fatalf("filter_gen %#x after Apply: sessions bit clear", w)
	}
	// As an older vxtap left it: sessions, no bit.
	if err := o.FilterGen.Put(uint32(0), w&1); err != nil {
		t.Fatal(err)
	}
	o.Close()
	o, err = Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	// FILTER_GEN_VNI stays clear: an older vxtap never wrote filter_vni
	// (nor counted applies).
	if want := w&1 | bit; word(o) != want {
		t.Fatalf("filter_gen %#x after re-opening the pins, want %#x", word(o), want)
	}
}
