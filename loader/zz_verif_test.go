package loader

import (
	"testing"
	"time"
)

// temporary: verifier cost of each config (not committed)
func TestZZVerifierCost(t *testing.T) {
	cfgs := map[string]func(*Config){
		"default": func(*Config) {},
		"all": func(c *Config) {
			c.FilterEnabled, c.SampleRate, c.SourceCheck, c.ThreatEnabled, c.Decap, c.DecapFrags = true, 64, true, true, true, true
		},
		"all-nofrags": func(c *Config) {
			c.FilterEnabled, c.SampleRate, c.SourceCheck, c.ThreatEnabled, c.Decap = true, 64, true, true, true
		},
		"offline": func(c *Config) { c.OfflineClock, c.FilterEnabled, c.SampleRate = true, true, 1 },
	}
	for name, f := range cfgs {
		c := DefaultConfig()
		f(&c)
		start := time.Now()
		o, err := Load(c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		info, _ := o.VxtapXdp.Info()
		vi, _ := info.VerifiedInstructions()
		t.Logf("%-12s verified_insns %d load %v", name, vi, time.Since(start))
		o.Close()
	}
}
