package filter

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// reader walks one document's YAML nodes (JSON documents are parsed as
// YAML too, which gives every value a line and column) and collects errors
// instead of stopping at the first.
type reader struct {
	file    string
	errs    ErrorList
	ignored []*Error // unknown fields of AWS shapes, skipped (awsFields)
}

func (r *reader) pos(n *yaml.Node) Pos { return Pos{File: r.file, Line: n.Line, Col: n.Column} }

// errorf records an error at node n.
func (r *reader) errorf(n *yaml.Node, context, format string, args ...any) {
	r.errs = append(r.errs, &Error{Pos: r.pos(n), Context: context, Msg: fmt.Sprintf(format, args...)})
}

// field is one key of a mapping and its value.
type field struct {
	key, val *yaml.Node
}

// fields returns a mapping's keys in order, reporting non-mappings,
// duplicate keys and keys outside allowed (nil allows any key).
func (r *reader) fields(n *yaml.Node, context string, allowed []string) []field {
	if n.Kind != yaml.MappingNode {
		r.errorf(n, context, "expected a mapping, found %s", kindName(n))
		return nil
	}
	seen := map[string]int{}
	var out []field
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if line, dup := seen[k.Value]; dup {
			r.errorf(k, context, "duplicate key %q (first at line %d)", k.Value, line)
			continue
		}
		seen[k.Value] = k.Line
		if allowed != nil && !contains(allowed, k.Value) {
			r.errorf(k, context, "unknown field %q (known: %s)", k.Value, strings.Join(sorted(allowed), ", "))
			continue
		}
		out = append(out, field{k, v})
	}
	return out
}

// seq returns a sequence's items, reporting anything else.
func (r *reader) seq(n *yaml.Node, context string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		r.errorf(n, context, "expected a list, found %s", kindName(n))
		return nil
	}
	return n.Content
}

// str reads a scalar as a string (numbers too: ids may look numeric).
func (r *reader) str(n *yaml.Node, context, name string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		r.errorf(n, context, "%s: expected a string, found %s", name, kindName(n))
		return "", false
	}
	return n.Value, true
}

// integer reads an integer in [min, max].
func (r *reader) integer(n *yaml.Node, context, name string, min, max int64) (int64, bool) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		r.errorf(n, context, "%s: expected an integer, found %s", name, kindName(n))
		return 0, false
	}
	// Decimal only: base 0 once read the VNI key 042 as octal 34.
	digits := strings.ReplaceAll(n.Value, "_", "")
	if t := strings.TrimLeft(digits, "+-"); len(t) > 1 && t[0] == '0' && strings.ContainsAny(t[1:2], "xXoObB") {
		r.errorf(n, context, "%s: %q: write the number in decimal", name, n.Value)
		return 0, false
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(n.Value, 64)
		switch {
		case ferr == nil && f == math.Trunc(f) && (f > float64(max) || f < float64(min)):
			r.errorf(n, context, "%s: %s is out of range %d..%d", name, n.Value, min, max)
		case ferr == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53:
			v = int64(f)
			if v < min || v > max {
				r.errorf(n, context, "%s: %d is out of range %d..%d", name, v, min, max)
				return 0, false
			}
			return v, true
		default:
			r.errorf(n, context, "%s: %q is not an integer", name, n.Value)
		}
		return 0, false
	}
	if v < min || v > max {
		r.errorf(n, context, "%s: %d is out of range %d..%d", name, v, min, max)
		return 0, false
	}
	return v, true
}

// boolean reads true or false.
func (r *reader) boolean(n *yaml.Node, context, name string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		r.errorf(n, context, "%s: expected true or false, found %s", name, kindName(n))
		return false, false
	}
	return n.Value == "true" || n.Value == "True" || n.Value == "TRUE", true
}

// prefix reads a CIDR block. Host bits set are accepted (AWS accepts
// them) and masked off, with a warning.
func (r *reader) prefix(n *yaml.Node, context, name string, warn func(*yaml.Node, string)) (netip.Prefix, bool) {
	s, ok := r.str(n, context, name)
	if !ok {
		return netip.Prefix{}, false
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Zone() != "" || p.Addr().Is4In6() {
		r.errorf(n, context, "%s: bad CIDR %q (want a.b.c.d/n or an IPv6 prefix)", name, s)
		return netip.Prefix{}, false
	}
	if m := p.Masked(); m != p {
		warn(n, fmt.Sprintf("%s: %s has host bits set; it means %s", name, s, m))
		p = m
	}
	return p, true
}

// addr reads an IP address.
func (r *reader) addr(n *yaml.Node, context, name string) (netip.Addr, bool) {
	s, ok := r.str(n, context, name)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Is4In6() {
		r.errorf(n, context, "%s: bad IP address %q", name, s)
		return netip.Addr{}, false
	}
	return a, true
}

// oneOf reads one of a set of words.
func (r *reader) oneOf(n *yaml.Node, context, name string, words ...string) (int, bool) {
	s, ok := r.str(n, context, name)
	if !ok {
		return 0, false
	}
	for i, w := range words {
		if strings.EqualFold(s, w) {
			return i, true
		}
	}
	r.errorf(n, context, "%s: %q is not one of %s", name, s, strings.Join(words, ", "))
	return 0, false
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.Tag {
	case "!!null":
		return "nothing"
	case "!!str":
		return fmt.Sprintf("the string %q", n.Value)
	}
	return fmt.Sprintf("%q", n.Value)
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func sorted(l []string) []string {
	c := append([]string(nil), l...)
	sort.Strings(c)
	return c
}
