package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// DocKind says which top-level keys a document may hold.
type DocKind int

const (
	DocConfig      DocKind = iota // vxtap YAML; may also hold the AWS keys
	DocAWSFilters                 // `aws ec2 describe-traffic-mirror-filters` output
	DocAWSSessions                // `aws ec2 describe-traffic-mirror-sessions` output
)

// Top-level keys by document kind.
var topKeys = map[DocKind][]string{
	DocConfig:      {"sessions", "default", "filters", "amazon_dns", "vpc_cidrs", "allowed_sources", "detect", "run", "TrafficMirrorFilters", "TrafficMirrorSessions", "NextToken"}, // detect: read by userspace/detect; run: flags of vxtap run (cmd/vxtap/config_flags.go)
	DocAWSFilters:  {"TrafficMirrorFilters", "NextToken"},
	DocAWSSessions: {"TrafficMirrorSessions", "NextToken"},
}

// Builder merges documents into one Config. Errors are collected across
// all documents and returned by Build, so one run reports them all.
type Builder struct {
	filters   map[string]*Filter
	sessions  []*Session
	def       *Session
	resolvers []netip.Addr
	resolved  bool // amazon_dns given: replaces DefaultResolvers
	vpcs      []netip.Prefix
	sources   []netip.Prefix // allowed_sources
	errs      ErrorList
	warns     []*Error
	ignored   []*Error        // unknown fields of AWS shapes
	broken    map[string]bool // filters whose errors are reported already
}

// NewBuilder starts an empty configuration.
func NewBuilder() *Builder { return &Builder{filters: map[string]*Filter{}, broken: map[string]bool{}} }

// Load reads a vxtap config file (may be "") and AWS CLI documents.
func Load(config string, awsFilters, awsSessions []string) (*Config, error) {
	b := NewBuilder()
	if config != "" {
		if err := b.AddFile(config, DocConfig); err != nil {
			return nil, err
		}
	}
	for _, f := range awsFilters {
		if err := b.AddFile(f, DocAWSFilters); err != nil {
			return nil, err
		}
	}
	for _, f := range awsSessions {
		if err := b.AddFile(f, DocAWSSessions); err != nil {
			return nil, err
		}
	}
	return b.Build()
}

// AddFile adds a file. Only reading it can fail here; what is wrong inside
// is reported by Build.
func (b *Builder) AddFile(path string, kind DocKind) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b.Add(path, data, kind)
	return nil
}

// yamlLine finds the line in a yaml.v3 error message.
var yamlLine = regexp.MustCompile(`line (\d+): (.*)`)

// Add adds one document; name is used in messages.
func (b *Builder) Add(name string, data []byte, kind DocKind) {
	r := &reader{file: name}
	defer func() { b.errs, b.ignored = append(b.errs, r.errs...), append(b.ignored, r.ignored...) }()
	if t := bytes.TrimSpace(data); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		// JSON: YAML would accept what JSON forbids (trailing commas,
		// comments), so JSON's own syntax is checked first.
		if err := jsonSyntax(data); err != nil {
			r.errs = append(r.errs, &Error{Pos: offsetPos(name, data, err.offset), Msg: "malformed JSON: " + err.msg})
			return
		}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		pos, msg := Pos{File: name}, err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			pos.Line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		r.errs = append(r.errs, &Error{Pos: pos, Msg: "malformed YAML: " + msg})
		return
	}
	if len(root.Content) == 0 {
		r.errs = append(r.errs, &Error{Pos: Pos{File: name}, Msg: "empty document"})
		return
	}
	var fields []field
	if kind == DocConfig {
		fields = r.fields(root.Content[0], "", topKeys[kind])
	} else { // a document the AWS CLI printed
		fields = r.awsFields(root.Content[0], "", append(append([]string(nil), topKeys[kind]...), "TrafficMirrorFilters", "TrafficMirrorSessions"))
	}
	for _, f := range fields {
		switch f.key.Value {
		case "TrafficMirrorFilters", "TrafficMirrorSessions":
			if !contains(topKeys[kind], f.key.Value) {
				r.errorf(f.key, "", "unknown field %q: a %s document belongs to the other flag (--aws-filters or --aws-sessions)", f.key.Value, strings.TrimPrefix(f.key.Value, "TrafficMirror"))
				continue
			}
		}
		switch f.key.Value {
		case "sessions":
			b.yamlSessions(r, f.val)
		case "default":
			b.yamlDefault(r, f.key, f.val)
		case "filters":
			b.yamlFilters(r, f.val)
		case "amazon_dns":
			b.resolved = true
			for _, n := range r.seq(f.val, "amazon_dns") {
				if a, ok := r.addr(n, "amazon_dns", "address"); ok {
					b.resolvers = append(b.resolvers, a)
				}
			}
		case "vpc_cidrs":
			for _, n := range r.seq(f.val, "vpc_cidrs") {
				if p, ok := r.prefix(n, "vpc_cidrs", "CIDR", b.warner(r)); ok {
					b.vpcs = append(b.vpcs, p)
				}
			}
		case "allowed_sources":
			for _, n := range r.seq(f.val, "allowed_sources") {
				if p, ok := r.prefix(n, "allowed_sources", "CIDR", b.warner(r)); ok {
					b.sources = append(b.sources, p)
				}
			}
		case "TrafficMirrorFilters":
			for _, n := range r.seq(f.val, "TrafficMirrorFilters") {
				b.awsFilter(r, n)
			}
		case "TrafficMirrorSessions":
			for _, n := range r.seq(f.val, "TrafficMirrorSessions") {
				b.awsSession(r, n)
			}
		}
	}
}

// warner returns a function recording a warning at a node.
func (b *Builder) warner(r *reader) func(*yaml.Node, string) {
	return func(n *yaml.Node, msg string) {
		b.warns = append(b.warns, &Error{Pos: r.pos(n), Msg: msg})
	}
}

// addFilter records a filter, refusing a second one with the same id.
func (b *Builder) addFilter(r *reader, n *yaml.Node, f *Filter) {
	if old, dup := b.filters[f.ID]; dup {
		r.errorf(n, fmt.Sprintf("filter %q", f.ID), "defined twice (first at %s)", old.Pos)
		return
	}
	b.filters[f.ID] = f
}

type syntaxErr struct {
	offset int64
	msg    string
}

// jsonSyntax checks JSON syntax, returning where it breaks.
func jsonSyntax(data []byte) *syntaxErr {
	var v any
	err := json.Unmarshal(data, &v)
	var se *json.SyntaxError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return &syntaxErr{se.Offset, se.Error()}
	}
	return &syntaxErr{int64(len(data)), err.Error()}
}

// offsetPos turns a byte offset into a line and column.
func offsetPos(name string, data []byte, off int64) Pos {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	col := int(off) - bytes.LastIndexByte(data[:off], '\n')
	return Pos{File: name, Line: line, Col: col}
}
