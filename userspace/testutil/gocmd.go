package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// goCommand runs the go tool that runs this test.
func goCommand(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), args...)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	return cmd
}
