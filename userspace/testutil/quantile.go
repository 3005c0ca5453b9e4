package testutil

import "sort"

// Quantile is the q-quantile (0..1) of v by nearest rank; v is not
// changed and must not be empty. Benchmarks report it for figures of a
// noisy host: minima and medians of many short batches.
func Quantile(v []float64, q float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[int(q*float64(len(s)-1))]
}
