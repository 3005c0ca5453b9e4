package loader

import (
	"path/filepath"

	"github.com/vxtap/vxtap/userspace/ifname"
)

// PinDir is the pin directory of iface in the caller's network namespace:
// PinRoot/<iface> in the host namespace, PinRoot/<iface>:ns<inode>
// elsewhere, so same-named interfaces of two namespaces never share pins.
func PinDir(iface string) string { return filepath.Join(PinRoot, ifname.Key(iface)) }
