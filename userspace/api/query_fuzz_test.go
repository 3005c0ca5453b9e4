package api

import (
	"net/url"
	"testing"
)

// FuzzParseQuery: any /v1/top query string is a query or a parameter
// error naming the parameter; never a crash.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "sort=bytes&group=src&n=10", "filter=vni%20101%20and%20dport%20443", "filter=%zz", "n=-1", "n=99999999999999999999", "bogus=1", "sort=a&sort=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(v)
		if err != nil {
			// A parameter error, naming the parameter (an empty name, as
			// in "=0", is named as such: the seed 9007faf418365160).
			if _, ok := err.(*paramError); !ok {
				t.Fatalf("%q: error %v is not a parameter error", raw, err)
			}
			return
		}
		if q.N < 0 || q.N > MaxRows {
			t.Fatalf("%q: n = %d out of range", raw, q.N)
		}
	})
}
