// Package respond turns findings into network responses. CloudWAN moves
// a VPC's AWS Cloud WAN attachment to a segment chosen by the finding's
// severity, the pattern of aws-samples'
// build-enforce-network-security-multi-account-environments (GuardDuty ->
// EventBridge -> Lambda), done so that Critical findings and findings
// without a severity are handled: the attachment is tagged, and the core
// network policy's attachment rule (association-method "tag",
// tag-value-of-key) moves it to the segment the tag names.
package respond

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// Segments by severity band.
const (
	SegInspected  = "inspected"  // Low: 1.0–3.9
	SegOnlyShared = "onlyshared" // Medium: 4.0–6.9
	SegBlocked    = "blocked"    // High 7.0–8.9 and Critical 9.0–10.0
)

// Segment maps a severity to its Cloud WAN segment.
func Segment(sev float64) string {
	switch {
	case sev < 4:
		return SegInspected
	case sev < 7:
		return SegOnlyShared
	}
	return SegBlocked
}

var segRank = map[string]int{SegInspected: 1, SegOnlyShared: 2, SegBlocked: 3}

// Finding is what the response reads of a finding (vxtap's or
// GuardDuty's detail, bare or in an EventBridge envelope).
type Finding struct {
	ID        string
	Type      string
	Severity  float64
	AccountID string
	Partition string
	ENIs      []string
	VPCs      []string
	Where     string // "finding 3 (line 3)" for messages
}

// rawFinding decodes the fields; severity is kept raw to tell a missing
// one from zero and to name a bad one.
type rawFinding struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Severity  json.RawMessage `json:"severity"`
	AccountID string          `json:"accountId"`
	Partition string          `json:"partition"`
	Resource  struct {
		InstanceDetails struct {
			NetworkInterfaces []struct {
				NetworkInterfaceID string `json:"networkInterfaceId"`
				VpcID              string `json:"vpcId"`
			} `json:"networkInterfaces"`
		} `json:"instanceDetails"`
	} `json:"resource"`
	Detail json.RawMessage `json:"detail"`
}

// ReadFindings reads JSON findings from r: JSON lines, concatenated
// objects or one array; each may be an EventBridge envelope (its
// "detail" is the finding). A finding that cannot be used (no severity,
// a severity outside 0–10, malformed JSON) is an error naming it by
// position, id and type; the others are still returned.
func ReadFindings(name string, r io.Reader) ([]Finding, []error) {
	data, err := io.ReadAll(io.LimitReader(r, 256<<20))
	if err != nil {
		return nil, []error{fmt.Errorf("%s: %w", name, err)}
	}
	var out []Finding
	var errs []error
	var raws []json.RawMessage
	var offsets []int64
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '[' {
		if err := json.Unmarshal(t, &raws); err != nil {
			return nil, []error{fmt.Errorf("%s: malformed JSON array: %w", name, err)}
		}
		for range raws {
			offsets = append(offsets, -1)
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(data))
		for {
			off := dec.InputOffset()
			var m json.RawMessage
			if err := dec.Decode(&m); err == io.EOF {
				break
			} else if err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: malformed JSON: %w", name, lineAt(data, off), err))
				break
			}
			raws, offsets = append(raws, m), append(offsets, off+int64(len(data[off:])-len(bytes.TrimLeft(data[off:], " \t\r\n"))))
		}
	}
	for i, m := range raws {
		where := fmt.Sprintf("%s: finding %d", name, i+1)
		if offsets[i] >= 0 {
			where = fmt.Sprintf("%s:%d: finding %d", name, lineAt(data, offsets[i]), i+1)
		}
		f, err := decodeFinding(m, where)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, f)
	}
	return out, errs
}

func lineAt(data []byte, off int64) int {
	return 1 + bytes.Count(data[:min(int(off), len(data))], []byte{'\n'})
}

func decodeFinding(m json.RawMessage, where string) (Finding, error) {
	var rf rawFinding
	if err := json.Unmarshal(m, &rf); err != nil {
		return Finding{}, fmt.Errorf("%s: not a finding object: %w", where, err)
	}
	if len(rf.Detail) > 0 && string(rf.Detail) != "null" {
		var inner rawFinding
		if err := json.Unmarshal(rf.Detail, &inner); err != nil {
			return Finding{}, fmt.Errorf("%s: envelope detail is not a finding: %w", where, err)
		}
		rf = inner
	}
	f := Finding{ID: rf.ID, Type: rf.Type, AccountID: rf.AccountID, Partition: rf.Partition}
	label := fmt.Sprintf("%s (id %q, type %q)", where, rf.ID, rf.Type)
	f.Where = label
	sev, err := severity(rf.Severity)
	if err != nil {
		return Finding{}, fmt.Errorf("%s: %w: no segment can be chosen, the attachment is left where it is", label, err)
	}
	f.Severity = sev
	for _, ni := range rf.Resource.InstanceDetails.NetworkInterfaces {
		if ni.NetworkInterfaceID != "" {
			f.ENIs = append(f.ENIs, ni.NetworkInterfaceID)
		}
		if ni.VpcID != "" {
			f.VPCs = append(f.VPCs, ni.VpcID)
		}
	}
	return f, nil
}

// severity reads a JSON number or numeric string on the 0–10 scale.
func severity(raw json.RawMessage) (float64, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return 0, errors.New("no severity")
	}
	if uq, err := strconv.Unquote(s); err == nil {
		s = uq
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("severity %s is not a number", raw)
	}
	if v < 0 || v > 10 {
		return 0, fmt.Errorf("severity %g is outside GuardDuty's 0–10 scale", v)
	}
	return v, nil
}

// Action is one attachment to move: the most severe finding on it
// decides the segment.
type Action struct {
	Attachment Attachment
	Segment    string
	Severity   float64
	Findings   []string // ids of the findings that asked for it
	Args       []string // the AWS CLI arguments (after "aws")
}

// Plan maps each finding to its attachment and segment; findings on the
// same attachment make one action, at the most severe segment. A finding
// whose ENI and VPC are not in the map is an error naming it.
func Plan(fs []Finding, m *AttachmentMap) ([]Action, []error) {
	byID := map[string]*Action{}
	var errs []error
	for _, f := range fs {
		a, ok := m.Lookup(f.ENIs, f.VPCs)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: no attachment for ENI %v / VPC %v in %s", f.Where, f.ENIs, f.VPCs, m.File))
			continue
		}
		seg := Segment(f.Severity)
		act, ok := byID[a.ID]
		if !ok {
			act = &Action{Attachment: a}
			byID[a.ID] = act
		}
		if segRank[seg] > segRank[act.Segment] {
			act.Segment = seg
		}
		act.Severity = max(act.Severity, f.Severity)
		act.Findings = append(act.Findings, f.ID)
		if a.Account == "" {
			a.Account = f.AccountID
		}
		if a.Partition == "" {
			a.Partition = f.Partition
		}
		act.Attachment = a
	}
	var out []Action
	for _, a := range byID {
		if a.Attachment.Account == "" {
			errs = append(errs, fmt.Errorf("attachment %s: no account id (give account in %s or accountId in the finding): its ARN cannot be built", a.Attachment.ID, m.File))
			continue
		}
		a.Args = tagArgs(a.Attachment, m.TagKey, a.Segment)
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Attachment.ID < out[j].Attachment.ID })
	return out, errs
}

// tagArgs is the call that moves the attachment: tag it; the policy's
// attachment rule maps the tag's value to the segment.
func tagArgs(a Attachment, key, seg string) []string {
	part := a.Partition
	if part == "" {
		part = "aws"
	}
	arn := fmt.Sprintf("arn:%s:networkmanager::%s:attachment/%s", part, a.Account, a.ID)
	return []string{"networkmanager", "tag-resource", "--resource-arn", arn, "--tags", fmt.Sprintf("Key=%s,Value=%s", key, seg)}
}

// Command prints the call as a shell line.
func (a Action) Command() string {
	parts := []string{"aws"}
	for _, s := range a.Args {
		if strings.ContainsAny(s, " \t'\"$`\\") {
			s = "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// Apply runs the action's call with the AWS CLI at aws; the CLI's own
// message is in the error.
func Apply(ctx context.Context, aws string, a Action) error {
	cmd := exec.CommandContext(ctx, aws, a.Args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", a.Command(), err, strings.TrimSpace(string(out)))
	}
	return nil
}
