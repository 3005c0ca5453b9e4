package pcapng

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// tsharkCount reads a file with tshark and returns its packets' source
// addresses in order, and the VNI interface names it saw.
func tsharkRead(t *testing.T, tshark, path string) (srcs []string, ifaces map[string]bool) {
	t.Helper()
	out, err := exec.Command(tshark, "-n", "-r", path, "-T", "fields", "-E", "separator=|",
		"-e", "frame.interface_name", "-e", "ip.src", "-e", "frame.len").Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", path, err)
	}
	ifaces = map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l == "" {
			continue
		}
		f := strings.Split(l, "|")
		ifaces[f[0]] = true
		srcs = append(srcs, f[1])
	}
	return srcs, ifaces
}

func needTshark(t *testing.T) string {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("VXTAP_REQUIRE_PRIVILEGED") == "1" {
			t.Fatal("tshark not installed (scripts/deps.sh installs it)")
		}
		t.Skip("tshark not installed")
	}
	return tshark
}

// TestRotateBySize writes 100 samples of two VNIs into files of at most
// 8 KiB, keeping 3 rotated ones: tshark reads every file kept, each a
// whole pcapng with its VNI interfaces, none past the size, and together
// they hold the newest samples in order with nothing missing between.
func TestRotateBySize(t *testing.T) {
	tshark := needTshark(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "samples.pcapng")
	s, err := CreateRotating(path, 256, Rotation{MaxSize: 8192, Keep: 3})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	const n = 100
	for i := range n {
		d := frame(t, "1", 300)
		d[29] = byte(i) // the IPv4 source's last byte names the sample
		x := flow.Sample{VNI: 42 + uint32(i%2), Time: t0.Add(time.Duration(i) * time.Millisecond), OrigLen: uint32(len(d)), Data: d}
		if err := s.WriteSamples(context.Background(), []flow.Sample{x}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files := RotatedFiles(path)
	if len(files) != 4 {
		t.Fatalf("files %v: want 3 rotated and the current one", files)
	}
	if _, err := os.Stat(rotatedName(path, 4)); err == nil {
		t.Fatal("a fourth rotated file was kept")
	}
	var all []string
	for i := range files { // oldest first
		st, _ := os.Stat(files[i])
		if st.Size() > 8192 {
			t.Errorf("%s is %d bytes, over the 8192 limit", files[i], st.Size())
		}
		srcs, ifaces := tsharkRead(t, tshark, files[i])
		if len(srcs) == 0 {
			t.Errorf("%s holds no packet", files[i])
		}
		for _, srcLast := range srcs {
			vni := "vni-42"
			if srcLast[len(srcLast)-1]%2 == 1 { // odd sample numbers went to VNI 43
				vni = "vni-43"
			}
			if !ifaces[vni] {
				t.Errorf("%s: packet %s without its interface %s", files[i], srcLast, vni)
			}
		}
		all = append(all, srcs...)
	}
	if s.Rotations < 4 {
		t.Fatalf("%d rotations: the test wrote too little to rotate past Keep", s.Rotations)
	}
	// The kept files hold the last samples, consecutive, ending with the last one.
	for i, src := range all {
		want := fmt.Sprintf("198.18.0.%d", n-len(all)+i)
		if src != want {
			t.Fatalf("sample %d of the kept files is %s, want %s (all: %v)", i, src, want, all)
		}
	}
}

// TestRotateByTime starts a new file when a sample comes an interval
// after the file was opened, as tcpdump -G does.
func TestRotateByTime(t *testing.T) {
	tshark := needTshark(t)
	path := filepath.Join(t.TempDir(), "s.pcapng")
	s, err := CreateRotating(path, 128, Rotation{Every: time.Minute, Keep: 10})
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return clock }
	s.opened = clock
	write := func(k byte) {
		d := frame(t, "1", 20)
		d[29] = k
		if err := s.WriteSamples(context.Background(), []flow.Sample{{VNI: 7, Time: clock, OrigLen: uint32(len(d)), Data: d}}); err != nil {
			t.Fatal(err)
		}
	}
	write(1)
	clock = clock.Add(30 * time.Second)
	write(2)
	clock = clock.Add(31 * time.Second) // 61 s after the file opened
	write(3)
	clock = clock.Add(2 * time.Minute)
	write(4)
	s.Close()
	want := map[string][]string{
		rotatedName(path, 2): {"198.18.0.1", "198.18.0.2"},
		rotatedName(path, 1): {"198.18.0.3"},
		path:                 {"198.18.0.4"},
	}
	for f, w := range want {
		got, _ := tsharkRead(t, tshark, f)
		if strings.Join(got, ",") != strings.Join(w, ",") {
			t.Errorf("%s holds %v, want %v", f, got, w)
		}
	}
}

// TestRotateBadSettings: bad values and an unwritable directory are
// errors at start, naming what is wrong, and create nothing.
func TestRotateBadSettings(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		rot  Rotation
		want string
	}{
		{Rotation{MaxSize: -1}, "negative"},
		{Rotation{MaxSize: 100}, "below 4096"},
		{Rotation{Every: time.Millisecond}, "below one second"},
		{Rotation{Keep: -2}, "keep -2"},
	} {
		_, err := CreateRotating(filepath.Join(dir, "x.pcapng"), 128, tc.rot)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one saying %q", tc.rot, err, tc.want)
		}
	}
	if _, err := CreateRotating(filepath.Join(dir, "missing", "x.pcapng"), 128, Rotation{MaxSize: 1 << 20}); err == nil ||
		!strings.Contains(err.Error(), "missing") {
		t.Errorf("missing directory: error %v", err)
	}
	if os.Geteuid() != 0 { // root writes anywhere; a read-only dir is only a test for others
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o555)
		if _, err := CreateRotating(filepath.Join(ro, "x.pcapng"), 128, Rotation{MaxSize: 1 << 20}); err == nil {
			t.Error("read-only directory accepted")
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) > 1 {
		t.Errorf("bad settings left files: %v", ents)
	}
}
