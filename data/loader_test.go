package data

import (
	"errors"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/tensor"
)

// testDataset returns n samples of shape [1, 4, 5] whose values encode the
// index (sample i holds (i*20 + j)/10000), labelled i%7, counting Get calls
// and failing on sample bad (if >= 0).
type testDataset struct {
	*InMemory
	gets atomic.Int64
	bad  int
}

var errCorrupt = errors.New("corrupt record")

func newTestDataset(t *testing.T, n int) *testDataset {
	v := make([]float32, n*20)
	for i := range v {
		v[i] = float32(i) / 10000
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i % 7
	}
	m, err := NewInMemory("test", []int{1, 4, 5}, v, labels)
	if err != nil {
		t.Fatal(err)
	}
	return &testDataset{InMemory: m, bad: -1}
}

func (d *testDataset) Get(i int, dst []float32) (int, error) {
	d.gets.Add(1)
	if i == d.bad {
		return 0, errCorrupt
	}
	return d.InMemory.Get(i, dst)
}

// epochBatches reads a whole epoch, copying every batch out as float64.
func epochBatches(t *testing.T, l *Loader, epoch, pos int) (xs [][]float64, idx, labels [][]int) {
	t.Helper()
	if err := l.Start(epoch, pos); err != nil {
		t.Fatal(err)
	}
	for {
		b, err := l.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		xs = append(xs, b.X.ToFloat64s())
		idx, labels = append(idx, slices.Clone(b.Indices)), append(labels, slices.Clone(b.Labels))
		b.Release()
	}
}

func mustLoader(t *testing.T, o LoaderOptions) *Loader {
	t.Helper()
	l, err := NewLoader(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestLoaderOrderAndContents(t *testing.T) {
	ds := newTestDataset(t, 22)
	s, _ := NewSampler(Sampler{N: 22, Rank: 1, World: 2, Seed: 3, Shuffle: true})
	for _, c := range []struct {
		be   tensor.Backend
		dt   tensor.DType
		drop bool
	}{{nil, 0, false}, {nil, tensor.Float64, true}, {fakeDevice{tensor.NewCPU()}, tensor.Float32, false}} {
		l := mustLoader(t, LoaderOptions{Dataset: ds, Sampler: s, BatchSize: 4, DropLast: c.drop, Backend: c.be, DType: c.dt, Workers: 3})
		xs, idx, labels := epochBatches(t, l, 5, 0)
		if want := map[bool]int{false: 3, true: 2}[c.drop]; len(xs) != want || l.BatchesPerEpoch() != want {
			t.Fatalf("%+v: %d batches, BatchesPerEpoch %d", c, len(xs), l.BatchesPerEpoch())
		}
		order := s.Epoch(5) // 11 per rank: batches 4, 4, 3 (or 4, 4 with DropLast)
		if got := slices.Concat(idx...); !slices.Equal(got, order[:len(got)]) {
			t.Fatalf("indices %v, sampler %v", got, order)
		}
		for b, x := range xs {
			for k, i := range idx[b] {
				if labels[b][k] != i%7 {
					t.Fatalf("label of %d = %d", i, labels[b][k])
				}
				for j := range 20 {
					if want := float64(float32(i*20+j) / 10000); x[k*20+j] != want {
						t.Fatalf("%+v: batch %d sample %d value %d = %v, want %v", c, b, i, j, x[k*20+j], want)
					}
				}
			}
		}
	}
}

// fakeDevice is a CPU whose tensors claim to live on a device, to test the
// upload path.
type fakeDevice struct{ *tensor.CPU }

func (f fakeDevice) Empty(dt tensor.DType, shape ...int) *tensor.Tensor {
	return tensor.NewDeviceTensor(f, dt, shape, make([]float64, tensor.Shape(shape).Numel()))
}
func (f fakeDevice) Release(*tensor.Tensor) { /* garbage collected */ }
func (f fakeDevice) WriteFloat32s(dst *tensor.Tensor, src []float32) {
	for i, v := range src {
		dst.DeviceHandle().([]float64)[i] = float64(v)
	}
}
func (f fakeDevice) WriteFloat64s(dst *tensor.Tensor, src []float64) {
	copy(dst.DeviceHandle().([]float64), src)
}
func (f fakeDevice) ReadFloat32s(dst []float32, t *tensor.Tensor) {
	for i, v := range t.DeviceHandle().([]float64) {
		dst[i] = float32(v)
	}
}
func (f fakeDevice) ReadFloat64s(dst []float64, t *tensor.Tensor) {
	copy(dst, t.DeviceHandle().([]float64))
}

func TestLoaderTransformsDeterministicAcrossWorkers(t *testing.T) {
	ds := newTestDataset(t, 37)
	s, _ := NewSampler(Sampler{N: 37, World: 1, Seed: 8, Shuffle: true})
	ts, _ := ParseTransforms([]string{"pad:6", "hflip", "dequantize:nice", "logit"})
	run := func(workers int, seed uint64) [][]float64 {
		l := mustLoader(t, LoaderOptions{Dataset: ds, Sampler: s, Transforms: ts, BatchSize: 5, Workers: workers, Seed: seed})
		if !slices.Equal(l.OutShape(), []int{1, 6, 6}) {
			t.Fatalf("OutShape %v", l.OutShape())
		}
		xs, idx, _ := epochBatches(t, l, 1, 0)
		// Each sample equals the reference chain seeded by (seed, epoch, index).
		for k, i := range idx[2] {
			src := make([]float32, 20)
			ds.Get(i, src)
			want, _ := applyAll(t, ts, src, []int{1, 4, 5}, tensor.NewRNG(mixSeeds(mixSeeds(seed, 1), uint64(i))))
			for j, v := range want {
				if xs[2][k*36+j] != float64(v) {
					t.Fatalf("workers %d: sample %d differs from the reference", workers, i)
				}
			}
		}
		return xs
	}
	a, b, c := run(1, 11), run(5, 11), run(5, 12)
	if !slices.EqualFunc(a, b, slices.Equal) {
		t.Fatal("1 and 5 workers gave different batches")
	}
	if slices.EqualFunc(a, c, slices.Equal) {
		t.Fatal("another seed gave the same batches")
	}
}

func TestLoaderPrefetchBound(t *testing.T) {
	ds := newTestDataset(t, 100)
	l := mustLoader(t, LoaderOptions{Dataset: ds, BatchSize: 2, Prefetch: 3, Workers: 2})
	l.Start(0, 0)
	// Prefetch finished batches wait in the queue plus one in assembly.
	waitStable := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for ds.gets.Load() < want && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(30 * time.Millisecond) // would it read further?
		if got := ds.gets.Load(); got != want {
			t.Fatalf("%d samples read ahead, want %d", got, want)
		}
	}
	waitStable((3 + 1) * 2)
	b, _ := l.Next()
	waitStable((3 + 2) * 2)
	b.Release()
	st := l.WaitStats()
	if st.Batches != 1 || st.Wait <= 0 {
		t.Fatalf("WaitStats %+v", st)
	}
}

func TestLoaderErrorAndClose(t *testing.T) {
	base := runtime.NumGoroutine()
	ds := newTestDataset(t, 50)
	ds.bad = 13
	l, err := NewLoader(LoaderOptions{Dataset: ds, BatchSize: 4, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	l.Start(0, 0)
	var n int
	for ; ; n++ {
		b, err := l.Next()
		if err != nil {
			if !errors.Is(err, errCorrupt) || !strings.Contains(err.Error(), "sample 13") {
				t.Fatalf("error %v should name sample 13 and wrap the cause", err)
			}
			break
		}
		b.Release()
	}
	if n != 3 { // batches 0..2 are fine; batch 3 holds sample 13
		t.Fatalf("error after %d batches", n)
	}
	if _, err2 := l.Next(); !errors.Is(err2, errCorrupt) {
		t.Fatalf("error not sticky: %v", err2)
	}
	waitGoroutines(t, base) // the loader stopped itself
	// Close mid-epoch with a held batch and a full queue.
	ds.bad = -1
	l.Start(0, 0)
	held, _ := l.Next()
	time.Sleep(10 * time.Millisecond)
	if err := l.Close(); err != nil || l.Close() != nil {
		t.Fatal("Close failed")
	}
	waitGoroutines(t, base)
	if held.X.At(0, 0, 0, 1) != float64(float32(1)/10000) {
		t.Fatal("a held batch must stay valid after Close")
	}
	held.Release()
	if _, err := l.Next(); err != ErrLoaderClosed || l.Start(0, 0) != ErrLoaderClosed {
		t.Fatalf("after Close: %v", err)
	}
}

func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Fatalf("%d goroutines, %d before", n, base)
	}
}

func TestLoaderResume(t *testing.T) {
	ds := newTestDataset(t, 41)
	s, _ := NewSampler(Sampler{N: 41, World: 1, Seed: 2, Shuffle: true})
	ts := []Transform{Dequantize{Mode: DequantizeNCSN}}
	opts := LoaderOptions{Dataset: ds, Sampler: s, Transforms: ts, BatchSize: 6, Workers: 2, Seed: 5}
	full, fullIdx, _ := epochBatches(t, mustLoader(t, opts), 3, 0)

	l := mustLoader(t, opts)
	l.Start(3, 0)
	for range 4 {
		b, _ := l.Next()
		b.Release()
	}
	st := l.State()
	if st != (SamplerState{Epoch: 3, Position: 24}) {
		t.Fatalf("State %+v", st)
	}
	rest, restIdx, _ := epochBatches(t, mustLoader(t, opts), st.Epoch, st.Position)
	if !slices.EqualFunc(rest, full[4:], slices.Equal) || !slices.EqualFunc(restIdx, fullIdx[4:], slices.Equal) {
		t.Fatal("resumed epoch differs from the uninterrupted one")
	}
	if err := l.Start(3, 42); err == nil {
		t.Fatal("position past the epoch accepted")
	} else if _, err2 := l.Next(); err2 != err {
		t.Fatalf("Next after a failed Start: %v", err2)
	}
}

func TestLoaderBuffersAndAllocs(t *testing.T) {
	ds := newTestDataset(t, 400)
	ts := []Transform{ZeroPad{To: 6}, RandomHFlip{}}
	l := mustLoader(t, LoaderOptions{Dataset: ds, Transforms: ts, BatchSize: 4, Prefetch: 2, Workers: 2})
	epoch := func() {
		l.Start(0, 0)
		for {
			b, err := l.Next()
			if err != nil {
				return
			}
			b.Release()
			b.Release() // twice is a no-op
		}
	}
	epoch()
	if n := l.WaitStats().Buffers; n > 4 {
		t.Fatalf("%d batch buffers for prefetch 2 with every batch released", n)
	}
	// 100 batches per epoch: the per-epoch setup allocates, the batches do not.
	if n := testing.AllocsPerRun(3, epoch); n > 40 {
		t.Fatalf("%v allocations per 100-batch epoch", n)
	}
	// Holding two batches at once keeps both intact.
	l.Start(1, 0)
	a, _ := l.Next()
	snap := a.X.ToFloat64s()
	b, _ := l.Next()
	time.Sleep(10 * time.Millisecond) // the producer refills the queue meanwhile
	if a.Indices[0] != 0 || b.Indices[0] != 4 || !slices.Equal(a.X.ToFloat64s(), snap) {
		t.Fatal("held batches were overwritten")
	}
	a.Release()
	b.Release()
}

func TestLoaderOptionErrors(t *testing.T) {
	ds := newTestDataset(t, 10)
	other, _ := NewSampler(Sampler{N: 11, World: 1})
	for _, c := range []struct {
		o    LoaderOptions
		want string
	}{
		{LoaderOptions{BatchSize: 1}, "needs a dataset"},
		{LoaderOptions{Dataset: ds}, "batch size 0"},
		{LoaderOptions{Dataset: ds, BatchSize: 2, Sampler: other}, "sampler over 11 samples"},
		{LoaderOptions{Dataset: ds, BatchSize: 2, Transforms: []Transform{ZeroPad{To: 3}}}, "cannot take samples of shape [1 4 5]"},
		{LoaderOptions{Dataset: ds, BatchSize: 2, Transforms: []Transform{Dequantize{}}}, "dequantize mode"},
	} {
		if _, err := NewLoader(c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v, want %q", err, c.want)
		}
	}
	l := mustLoader(t, LoaderOptions{Dataset: ds, BatchSize: 2})
	if _, err := l.Next(); err == nil || !strings.Contains(err.Error(), "before Start") {
		t.Fatalf("Next before Start: %v", err)
	}
}
