package topview

import (
	"math"
	"strconv"
)

// Units use powers of 1000, as network rates are quoted.
var (
	bitUnits    = []string{"b/s", "Kb/s", "Mb/s", "Gb/s", "Tb/s"}
	byteUnits   = []string{"B", "KB", "MB", "GB", "TB", "PB"}
	packetUnits = []string{"", "K", "M", "G"}
)

// BitRate formats bits per second: 950 b/s, 12.3 Kb/s, 1.25 Gb/s.
func BitRate(bps float64) string { return human(bps, bitUnits, false) }

// ByteSize formats a byte count: 999 B, 1.50 KB, 12.3 GB.
func ByteSize(n uint64) string { return human(float64(n), byteUnits, false) }

// PacketRate formats packets per second: 0.5, 950, 12.3K, 1.20M.
func PacketRate(pps float64) string { return human(pps, packetUnits, true) }

// human prints three significant digits in the largest unit that keeps
// the number at 1 or more. Below the first step the number is whole,
// except small fractions when frac (half a packet per second is news).
func human(v float64, units []string, frac bool) string {
	if math.IsNaN(v) || v < 0 {
		v = 0
	}
	i := 0
	for v >= 999.5 && i < len(units)-1 {
		v /= 1000
		i++
	}
	var s string
	switch {
	case i == 0 && frac && v > 0 && v < 9.95 && v != math.Trunc(v):
		s = strconv.FormatFloat(v, 'f', 1, 64)
	case i == 0:
		s = strconv.FormatFloat(v, 'f', 0, 64)
	case v < 9.995:
		s = strconv.FormatFloat(v, 'f', 2, 64)
	case v < 99.95:
		s = strconv.FormatFloat(v, 'f', 1, 64)
	default:
		s = strconv.FormatFloat(v, 'f', 0, 64)
	}
	if units[i] == "" {
		return s
	}
	if len(units[i]) == 1 && units[0] == "" { // packet suffixes stick to the number
		return s + units[i]
	}
	return s + " " + units[i]
}
