package loader

import (
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/vxtap/vxtap/userspace/flow"
)

// counterNames are the data path's counter names, read from the BTF of its
// enums so a reason added in C needs no change here.
type counterNames struct {
	reasons []string // index = enum vxtap_reason
	flags   []string // index = enum vxtap_flag
}

// reasonClass is the class of a terminal reason, from the REASON__CLASS_*
// boundaries of enum vxtap_reason (ascending).
func reasonClass(i int) flow.CounterClass {
	switch r := VxtapVxtapReason(i); {
	case r >= VxtapVxtapReasonREASON__CLASS_LOST:
		return flow.ClassLost
	case r >= VxtapVxtapReasonREASON__CLASS_MALFORMED:
		return flow.ClassMalformed
	case r >= VxtapVxtapReasonREASON__CLASS_REFUSED:
		return flow.ClassRefused
	case r >= VxtapVxtapReasonREASON__CLASS_PASSED:
		return flow.ClassPassed
	}
	return flow.ClassAccounted
}

// flagClass is the class of a flag, from the FLAG__CLASS_* boundaries.
func flagClass(i int) flow.CounterClass {
	switch f := VxtapVxtapFlag(i); {
	case f >= VxtapVxtapFlagFLAG__CLASS_DECAP:
		return flow.ClassDecap
	case f >= VxtapVxtapFlagFLAG__CLASS_LOST:
		return flow.ClassLost
	case f >= VxtapVxtapFlagFLAG__CLASS_EVENT:
		return flow.ClassEvent
	}
	return flow.ClassShape
}

func namesFromBTF(spec *ebpf.CollectionSpec) (counterNames, error) {
	reasons, err := enumNames(spec, "vxtap_reason", "REASON_")
	if err != nil {
		return counterNames{}, err
	}
	flags, err := enumNames(spec, "vxtap_flag", "FLAG_")
	if err != nil {
		return counterNames{}, err
	}
	return counterNames{reasons: reasons, flags: flags}, nil
}

// enumNames lists an enum's names by value, lower-cased without prefix,
// leaving out the __MAX sentinel.
func enumNames(spec *ebpf.CollectionSpec, typeName, prefix string) ([]string, error) {
	var e *btf.Enum
	if err := spec.Types.TypeByName(typeName, &e); err != nil {
		return nil, fmt.Errorf("BTF enum %s: %w", typeName, err)
	}
	var max uint64
	for _, v := range e.Values {
		if strings.HasSuffix(v.Name, "__MAX") {
			max = v.Value
		}
	}
	names := make([]string, max)
	for _, v := range e.Values {
		// Names with "__" after the prefix are sentinels and class
		// boundaries (REASON__CLASS_*), not counters.
		if v.Value < max && !strings.Contains(strings.TrimPrefix(v.Name, prefix), "__") && !strings.HasPrefix(strings.TrimPrefix(v.Name, prefix), "_") {
			names[v.Value] = strings.ToLower(strings.TrimPrefix(v.Name, prefix))
		}
	}
	for i, n := range names {
		if n == "" {
			return nil, fmt.Errorf("BTF enum %s has no name for %d", typeName, i)
		}
	}
	return names, nil
}

// ReasonNames lists the terminal reasons in the data path's order.
func (o *Objects) ReasonNames() []string { return o.names.reasons }

// FlagNames lists the flags in the data path's order.
func (o *Objects) FlagNames() []string { return o.names.flags }
