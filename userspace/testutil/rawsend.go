package testutil

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// SendRawInNetns writes whole Ethernet frames out of iface in namespace ns
// through an AF_PACKET socket: frames no interface of the kernel would
// build (VLAN tags on a kernel without 802.1Q, hand-made copies).
func SendRawInNetns(ns, iface string, frames [][]byte) error {
	return doInNetns(ns, func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return fmt.Errorf("%s in %s: %w", iface, ns, err)
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		defer unix.Close(fd)
		to := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
		for i, f := range frames {
			if err := unix.Sendto(fd, f, 0, to); err != nil {
				return fmt.Errorf("frame %d out of %s: %w", i, iface, err)
			}
		}
		return nil
	})
}

// DoInNetns runs fn on a thread inside namespace ns (netlink calls, BPF
// runs whose helpers resolve interfaces there), then moves the thread back.
func DoInNetns(ns string, fn func() error) error { return doInNetns(ns, fn) }
