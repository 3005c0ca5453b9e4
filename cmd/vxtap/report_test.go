package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportBadLine: `vxtap report` used to abort on one bad line and
// print nothing. It prints the report of every good record, names the bad
// line on stderr, and exits 1.
func TestReportBadLine(t *testing.T) {
	bin := vxtapBin(t)
	line := `{"vni":42,"src":"198.18.0.1","dst":"198.18.0.2","proto":17,"sport":1,"dport":2,"packets":3,"bytes":300}`
	p := filepath.Join(t.TempDir(), "flows.json")
	os.WriteFile(p, []byte(line+"\n{\"vni\":42,\"src\n"+line+"\n"), 0o600)
	cmd := exec.Command(bin, "report", "--format", "tsv", p)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want 1", err)
	}
	if !strings.Contains(string(out), "42\t198.18.0.1\t198.18.0.2\t17\t1\t2\t6\t600") {
		t.Errorf("stdout %q: want both good records summed", out)
	}
	if !strings.Contains(stderr.String(), p+":2:") {
		t.Errorf("stderr %q: want line 2 named", stderr.String())
	}
}
