package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vxtap/vxtap/userspace/testutil"
)

// vxtap respond cloudwan: the dry run prints one call per attachment,
// Critical included; a finding without severity is named on stderr and
// the exit status is 1, with the other calls still printed; --apply runs
// the CLI given with exactly the printed arguments.
func TestRespondCloudWAN(t *testing.T) {
	bin := vxtapBin(t)
	dir := t.TempDir()
	findings := filepath.Join(dir, "findings.jsonl")
	os.WriteFile(findings, []byte(`{"id":"crit","type":"Backdoor:EC2/DenialOfService.Tcp","severity":9.5,"resource":{"instanceDetails":{"networkInterfaces":[{"networkInterfaceId":"eni-0a1b2c3d4e5f60001"}]}}}
{"id":"nosev","type":"Recon:EC2/Portscan","resource":{"instanceDetails":{"networkInterfaces":[{"networkInterfaceId":"eni-0a1b2c3d4e5f60002"}]}}}
`), 0o644)
	att := filepath.Join(testutil.RepoRoot(t), "userspace", "respond", "testdata", "attachments.yaml")
	cmd := exec.Command(bin, "respond", "cloudwan", "--attachments", att, findings)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1\n%s", err, stderr.String())
	}
	wantCall := "aws networkmanager tag-resource --resource-arn arn:aws:networkmanager::123456789012:attachment/attachment-0a0000000000000a1 --tags Key=domain,Value=blocked"
	if !strings.Contains(stdout.String(), wantCall) || !strings.Contains(stdout.String(), "Critical") {
		t.Errorf("stdout:\n%s\nwant %s", stdout.String(), wantCall)
	}
	if !strings.Contains(stderr.String(), findings+`:2: finding 2 (id "nosev", type "Recon:EC2/Portscan"): no severity`) {
		t.Errorf("stderr:\n%s", stderr.String())
	}

	calls := filepath.Join(dir, "calls")
	aws := filepath.Join(dir, "aws")
	os.WriteFile(aws, []byte("#!/bin/sh\necho \"$@\" >> "+calls+"\n"), 0o755)
	out, err := exec.Command(bin, "respond", "cloudwan", "--attachments", att, "--apply", "--aws", aws, findings).CombinedOutput()
	got, _ := os.ReadFile(calls)
	if err == nil || strings.TrimSpace(string(got)) != strings.TrimPrefix(wantCall, "aws ") || !strings.Contains(string(out), "# applied") {
		t.Fatalf("--apply: %v\n%s\ncalls: %q", err, out, got)
	}
}
