package pcapng

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Rotation says when the sample file starts afresh, as tcpdump's -C, -G
// and -W do, but named as the flow log is (logrotate's way): the file
// being written is always Path; the one before is Path.1, then Path.2, and
// so on up to Path.Keep, so `tshark -r Path` always opens the newest. Each
// file is a whole pcapng section with its own interface blocks.
type Rotation struct {
	MaxSize int64         // start a new file before one would grow past this many bytes (tcpdump -C); 0 = never
	Every   time.Duration // start a new file when a sample comes this long after the file was opened (tcpdump -G); 0 = never
	Keep    int           // rotated files kept (tcpdump -W); 0 = delete at rotation
}

// Validate names what is wrong with r.
func (r Rotation) Validate() error {
	switch {
	case r.MaxSize < 0:
		return fmt.Errorf("max size %d is negative", r.MaxSize)
	case r.MaxSize > 0 && r.MaxSize < 4096:
		return fmt.Errorf("max size %d is below 4096 bytes: a file would hold little more than its headers", r.MaxSize)
	case r.Every < 0:
		return fmt.Errorf("rotation interval %s is negative", r.Every)
	case r.Every > 0 && r.Every < time.Second:
		return fmt.Errorf("rotation interval %s is below one second", r.Every)
	case r.Keep < 0:
		return fmt.Errorf("keep %d is negative", r.Keep)
	}
	return nil
}

// due says whether a sample of n more bytes at now starts a new file.
func (r Rotation) due(size, n int64, opened, now time.Time) bool {
	if size == 0 {
		return false // a new file takes at least one sample, however large
	}
	if r.MaxSize > 0 && size+n > r.MaxSize {
		return true
	}
	return r.Every > 0 && now.Sub(opened) >= r.Every
}

// shift moves path to path.1 (path.1 to path.2, ...) and drops what is
// beyond keep.
func shift(path string, keep int) error {
	if keep <= 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := os.Remove(rotatedName(path, keep)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// Bounded by keep: each kept file moves one place, oldest first.
	for i := keep - 1; i >= 1; i-- {
		if err := os.Rename(rotatedName(path, i), rotatedName(path, i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return os.Rename(path, rotatedName(path, 1))
}

// rotatedName is the i-th newest rotated file.
func rotatedName(path string, i int) string { return fmt.Sprintf("%s.%d", path, i) }

// RotatedFiles lists the files of path that exist in time order: the
// oldest rotated one first, path itself (the newest) last.
func RotatedFiles(path string) []string {
	var out []string
	// Bounded: rotated names are contiguous from 1; stop at the first gap.
	for i := 1; i < 1<<20; i++ {
		n := rotatedName(path, i)
		if _, err := os.Stat(n); err != nil {
			break
		}
		out = append([]string{n}, out...)
	}
	if _, err := os.Stat(path); err == nil {
		out = append(out, path)
	}
	return out
}

// checkDir makes sure the directory of path exists and takes new files:
// an unwritable directory is a clear startup error, not a failure at the
// first rotation.
func checkDir(path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("directory %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	f, err := os.CreateTemp(dir, ".vxtap-probe-*")
	if err != nil {
		return fmt.Errorf("directory %s does not take new files (rotation needs it): %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
