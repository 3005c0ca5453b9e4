package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ReadCommitted reads the last committed Seq from dir/seq.json without
// touching the file (0 when there is none): for a sink that must not
// let a batch leave the machine before the daemon committed it (the
// ClickHouse shipper), since an uncommitted batch is cut at the next
// start (Recoverer) and only what is local can be cut.
func ReadCommitted(dir string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, "seq.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("batch sequence: %w", err)
	}
	var st seqState
	if err := json.Unmarshal(b, &st); err != nil {
		return 0, fmt.Errorf("batch sequence %s: %w", filepath.Join(dir, "seq.json"), err)
	}
	return st.Committed, nil
}
