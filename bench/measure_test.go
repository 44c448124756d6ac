package bench

import (
	"runtime"
	"testing"
)

// perStep runs fn b.N times (each fn is one run of k model calls) and
// reports ns/step, allocs/step and B/step: one step is one model call.
func perStep(b *testing.B, k int, fn func()) {
	b.Helper()
	fn() // warm up: lazy initialisation is not a step
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	b.ResetTimer()
	for range b.N {
		fn()
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	steps := float64(b.N) * float64(k)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/steps, "ns/step")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/steps, "allocs/step")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/steps, "B/step")
}

func kName(k int) string {
	switch k {
	case 1:
		return "K=1"
	case 10:
		return "K=10"
	}
	return "K=100"
}
