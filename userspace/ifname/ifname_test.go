package ifname

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, ok := range []string{"eth0", "ens5", "vxa1", "a", "veth-x_1.100", "abcdefghijklmno", "br@x"} {
		if err := Check(ok); err != nil {
			t.Errorf("Check(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "../../../../tmp/x", "a/b", "/", "abcdefghijklmnop", "eth0:1", "a b", "a\tb", "a\x00b", "a\nb", "\x7f"} {
		if err := Check(bad); err == nil {
			t.Errorf("Check(%q) = nil, want an error", bad)
		}
	}
}

func TestKeyLocal(t *testing.T) {
	k := Key("eth0")
	inode, home := Netns()
	if home != (k == "eth0") {
		t.Fatalf("Key(eth0) = %q in namespace %d (home %v)", k, inode, home)
	}
	if !home && !strings.HasPrefix(k, "eth0:ns") {
		t.Fatalf("Key(eth0) = %q", k)
	}
	if name, ok := Local(k); !ok || name != "eth0" {
		t.Fatalf("Local(%q) = %q, %v", k, name, ok)
	}
	if _, ok := Local("eth0:ns1"); ok {
		t.Fatal("a key of namespace 1 counted as local")
	}
}
