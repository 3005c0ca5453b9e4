package respond

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func finding(id, eni, sev string) string {
	s := `{"id":"` + id + `","type":"Recon:EC2/Portscan",`
	if sev != "" {
		s += `"severity":` + sev + `,`
	}
	return s + `"resource":{"resourceType":"Instance","instanceDetails":{"networkInterfaces":[{"networkInterfaceId":"` + eni + `"}]}}}`
}

// Every band, Critical included, maps to its segment and to the tag call
// that moves the attachment; a finding without severity is an error that
// names it, and the rest still get their calls.
func TestDryRunEveryBand(t *testing.T) {
	m, err := LoadAttachments("testdata/attachments.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in := strings.Join([]string{
		finding("low", "eni-0a1b2c3d4e5f60001", "2"),
		finding("medium", "eni-0a1b2c3d4e5f60002", "5.5"),
		`{"version":"0","detail-type":"vxtap Finding","source":"vxtap","detail":` + finding("high", "eni-0a1b2c3d4e5f60004", "8.9") + `}`,
		`{"id":"crit","type":"Backdoor:EC2/DenialOfService.Tcp","severity":9.5,"resource":{"instanceDetails":{"networkInterfaces":[{"networkInterfaceId":"eni-x","vpcId":"vpc-0aaaaaaaaaaaaaaa3"}]}}}`,
		finding("nosev", "eni-0a1b2c3d4e5f60001", ""),
		finding("badsev", "eni-0a1b2c3d4e5f60001", `"high"`),
		finding("unmapped", "eni-0fffffffffffffff0", "3"),
	}, "\n")
	fs, errs := ReadFindings("findings.jsonl", strings.NewReader(in))
	acts, perrs := Plan(fs, m)
	errs = append(errs, perrs...)
	var got []string
	for _, a := range acts {
		got = append(got, a.Segment+" "+a.Command())
	}
	want := []string{
		"inspected aws networkmanager tag-resource --resource-arn arn:aws:networkmanager::123456789012:attachment/attachment-0a0000000000000a1 --tags Key=domain,Value=inspected",
		"onlyshared aws networkmanager tag-resource --resource-arn arn:aws:networkmanager::123456789012:attachment/attachment-0a0000000000000a2 --tags Key=domain,Value=onlyshared",
		"blocked aws networkmanager tag-resource --resource-arn arn:aws:networkmanager::123456789012:attachment/attachment-0a0000000000000a3 --tags Key=domain,Value=blocked",
		"blocked aws networkmanager tag-resource --resource-arn arn:aws:networkmanager::210987654321:attachment/attachment-0a0000000000000a4 --tags Key=domain,Value=blocked",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	msgs := ""
	for _, e := range errs {
		msgs += e.Error() + "\n"
	}
	for _, w := range []string{
		`findings.jsonl:5: finding 5 (id "nosev", type "Recon:EC2/Portscan"): no severity`,
		`findings.jsonl:6: finding 6 (id "badsev", type "Recon:EC2/Portscan"): severity "high" is not a number`,
		`findings.jsonl:7: finding 7 (id "unmapped", type "Recon:EC2/Portscan"): no attachment for ENI [eni-0fffffffffffffff0]`,
	} {
		if !strings.Contains(msgs, w) {
			t.Errorf("errors:\n%swant one containing %q", msgs, w)
		}
	}
	if len(errs) != 3 {
		t.Fatalf("%d errors, want 3:\n%s", len(errs), msgs)
	}
}

// The band edges, as the issue words them.
func TestSegmentEdges(t *testing.T) {
	for sev, want := range map[float64]string{1: SegInspected, 3.9: SegInspected, 4: SegOnlyShared, 6.9: SegOnlyShared,
		7: SegBlocked, 8.9: SegBlocked, 9: SegBlocked, 10: SegBlocked} {
		if got := Segment(sev); got != want {
			t.Errorf("Segment(%g) = %s, want %s", sev, got, want)
		}
	}
}

// Two findings on one attachment make one call, at the more severe
// segment; a JSON array reads too; out-of-scale severities are refused.
func TestPlanMergesAndArrays(t *testing.T) {
	m, _ := LoadAttachments("testdata/attachments.yaml")
	fs, errs := ReadFindings("a.json", strings.NewReader("["+finding("a", "eni-0a1b2c3d4e5f60001", "2")+","+
		finding("b", "eni-0a1b2c3d4e5f60001", "7.5")+","+finding("c", "eni-0a1b2c3d4e5f60001", "11")+"]"))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `finding 3 (id "c"`) || !strings.Contains(errs[0].Error(), "outside") {
		t.Fatalf("errors %v", errs)
	}
	acts, _ := Plan(fs, m)
	if len(acts) != 1 || acts[0].Segment != SegBlocked || len(acts[0].Findings) != 2 {
		t.Fatalf("actions %+v", acts)
	}
}

func TestAttachmentErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.yaml")
	os.WriteFile(p, []byte("account: 12345\nattachments:\n  - {attachment: nope, vpc: vpc-1}\n  - {attachment: attachment-0a0000000000000a1}\n"), 0o644)
	_, err := LoadAttachments(p)
	for _, w := range []string{p + `:1: account "12345"`, p + `:3: attachment "nope"`, p + `:4: attachment attachment-0a0000000000000a1 maps nothing`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v, want %q", err, w)
		}
	}
}

// --apply runs the CLI with exactly the printed arguments.
func TestApply(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	aws := filepath.Join(dir, "aws")
	os.WriteFile(aws, []byte("#!/bin/sh\necho \"$@\" >> "+log+"\n"), 0o755)
	m, _ := LoadAttachments("testdata/attachments.yaml")
	fs, _ := ReadFindings("x", strings.NewReader(finding("a", "eni-0a1b2c3d4e5f60002", "9")))
	acts, _ := Plan(fs, m)
	if err := Apply(context.Background(), aws, acts[0]); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(log)
	if strings.TrimSpace(string(got)) != strings.TrimPrefix(acts[0].Command(), "aws ") {
		t.Fatalf("called with %q, printed %q", got, acts[0].Command())
	}
	os.WriteFile(aws, []byte("#!/bin/sh\necho 'AccessDeniedException' >&2; exit 254\n"), 0o755)
	if err := Apply(context.Background(), aws, acts[0]); err == nil || !strings.Contains(err.Error(), "AccessDeniedException") {
		t.Fatalf("error %v", err)
	}
}
