package filter

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a place in an input file.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string {
	switch {
	case p.File == "":
		return ""
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is one problem in the input, located as precisely as the input
// allows: file and line always, the filter, direction and rule number when
// it concerns a rule. Warnings use the same type.
type Error struct {
	Pos     Pos
	Context string // e.g. `filter "web" ingress rule 100`, or `session 42`
	Msg     string
}

func (e *Error) Error() string {
	var b strings.Builder
	if s := e.Pos.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	if e.Context != "" {
		b.WriteString(e.Context)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every error found, in file order.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// sortErrors orders errors by file, line and column.
func sortErrors(l []*Error) {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i].Pos, l[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// ruleContext names a rule in messages.
func ruleContext(filter string, dir Direction, number int) string {
	return fmt.Sprintf("filter %q %s rule %d", filter, dir, number)
}
