package topview

import (
	"math"
	"testing"
)

func TestBitRate(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0 b/s"}, {-5, "0 b/s"}, {math.NaN(), "0 b/s"}, {1, "1 b/s"}, {999, "999 b/s"},
		{999.4, "999 b/s"}, {999.5, "1.00 Kb/s"}, {1000, "1.00 Kb/s"}, {1234, "1.23 Kb/s"},
		{9994, "9.99 Kb/s"}, {9996, "10.0 Kb/s"}, {12345, "12.3 Kb/s"}, {99960, "100 Kb/s"},
		{123456, "123 Kb/s"}, {999_499, "999 Kb/s"}, {999_500, "1.00 Mb/s"}, {1_250_000, "1.25 Mb/s"},
		{40e9, "40.0 Gb/s"}, {100e9, "100 Gb/s"}, {1.5e12, "1.50 Tb/s"}, {5e15, "5000 Tb/s"},
	}
	for _, tc := range tests {
		if got := BitRate(tc.in); got != tc.want {
			t.Errorf("BitRate(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		in   uint64
		want string
	}{
		{0, "0 B"}, {1, "1 B"}, {999, "999 B"}, {1000, "1.00 KB"}, {1024, "1.02 KB"}, {1500, "1.50 KB"},
		{12_345_678, "12.3 MB"}, {999_999_999, "1.00 GB"}, {123_456_789_012, "123 GB"}, {2e12, "2.00 TB"},
		{math.MaxUint64, "18447 PB"},
	}
	for _, tc := range tests {
		if got := ByteSize(tc.in); got != tc.want {
			t.Errorf("ByteSize(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPacketRate(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"}, {0.5, "0.5"}, {1, "1"}, {2.25, "2.2"}, {9.96, "10"}, {12.4, "12"}, {950, "950"},
		{1000, "1.00K"}, {12_345, "12.3K"}, {1_200_000, "1.20M"}, {14.88e6, "14.9M"},
	}
	for _, tc := range tests {
		if got := PacketRate(tc.in); got != tc.want {
			t.Errorf("PacketRate(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
