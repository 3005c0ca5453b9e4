package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"
)

// Flags of `vxtap run` may also live in the configuration file, under
// run:, spelled as on the command line without the dashes:
//
//	run:
//	  clickhouse: clickhouse://store.internal:9000
//	  clickhouse-retention: 90
//	  ipfix: 198.18.0.5:4739
//	  allowed-sources: [198.18.0.0/16, "2001:db8::/32"]
//
// The command line wins over the file. Flags that name the configuration
// or the interface themselves are refused there.
var notInConfig = map[string]bool{"config": true, "iface": true, "help": true}

// applyConfigFlags sets every flag the file's run: section names and the
// command line left unset. An unknown flag or a bad value is an error
// naming file, line and column; nothing is started.
func applyConfigFlags(c *cli.Context, path string) error {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("flag --config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil // not YAML (AWS CLI JSON is YAML too), or empty: the filter loader says what is wrong
	}
	root := doc.Content[0]
	var run *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "run" {
			run = root.Content[i+1]
		}
	}
	if run == nil {
		return nil
	}
	at := func(n *yaml.Node) string { return fmt.Sprintf("%s:%d:%d", path, n.Line, n.Column) }
	if run.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: run: want a mapping of flag names to values", at(run))
	}
	known := map[string]bool{}
	for _, f := range c.Command.Flags {
		for _, n := range f.Names() {
			known[n] = true
		}
	}
	// Bounded by the section's entries.
	for i := 0; i+1 < len(run.Content); i += 2 {
		k, v := run.Content[i], run.Content[i+1]
		name := k.Value
		if !known[name] || notInConfig[name] {
			return fmt.Errorf("%s: run.%s: not a flag of vxtap run that the file may set", at(k), name)
		}
		if c.IsSet(name) {
			continue // the command line wins
		}
		var vals []string
		switch v.Kind {
		case yaml.ScalarNode:
			vals = []string{v.Value}
		case yaml.SequenceNode:
			for _, e := range v.Content {
				if e.Kind != yaml.ScalarNode {
					return fmt.Errorf("%s: run.%s: want a value or a list of values", at(e), name)
				}
				vals = append(vals, e.Value)
			}
		default:
			return fmt.Errorf("%s: run.%s: want a value or a list of values", at(v), name)
		}
		for _, val := range vals {
			if err := c.Set(name, strings.TrimSpace(val)); err != nil {
				return fmt.Errorf("%s: run.%s: %v", at(v), name, err)
			}
		}
	}
	return nil
}
