package bench

import "testing"

func TestEngineSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the full-size benchmark once")
	}
	r := Engine(EngineOptions{Rounds: 1, Iters: 1, Warmup: 1})
	if r.StepMs <= 0 || r.GemmMs <= 0 || r.ConvMs <= 0 || r.StepOverGemm <= 0 {
		t.Fatalf("non-positive timings: %+v", r)
	}
}

func BenchmarkMLPStep(b *testing.B) {
	m := newMLPBench(cpuBackend(), 192)
	m.step()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.step()
	}
}

func BenchmarkMLPGemms(b *testing.B) {
	m := newMLPBench(cpuBackend(), 192)
	m.gemms()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.gemms()
	}
}

func BenchmarkConvBlock(b *testing.B) {
	c := newConvBench(cpuBackend())
	c.step()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.step()
	}
	b.ReportMetric(c.flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
