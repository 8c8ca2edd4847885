package data

import (
	"slices"
	"testing"
)

// transformLoader loads 8×8 images in batches of 3 through ts on decoders
// goroutines.
func transformLoader(t *testing.T, paths []string, ts []Transform, decoders int) *ShardLoader {
	t.Helper()
	l, err := NewShardLoader(ShardLoaderOptions{Paths: paths, BatchSize: 3, Decoders: decoders, Image: ImageFolderOptions{Size: 8, Channels: 1},
		Transforms: ts, Sampler: ShardSampler{World: 1, Workers: 2, Seed: 7, Shuffle: true, Buffer: 4}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestShardTransforms: transforms run on each decoded sample: pad changes
// the batch shape and surrounds the untransformed sample with zeros, and a
// random flip gives a record the same values whatever the number of
// decoding goroutines and when its epoch is resumed mid-way.
func TestShardTransforms(t *testing.T) {
	paths, _ := writeTestShards(t, t.TempDir(), []int{5, 7, 4})
	ts, err := ParseTransforms([]string{"hflip", "pad:12"})
	if err != nil {
		t.Fatal(err)
	}
	samples := func(l *ShardLoader, st ShardState, limit int) (map[string][]float32, ShardState) {
		if err := l.Start(st); err != nil {
			t.Fatal(err)
		}
		out := map[string][]float32{}
		for b := 0; limit < 0 || b < limit; b++ {
			batch, err := l.Next()
			if err != nil {
				break
			}
			per := len(batch.X.Float32s()) / len(batch.Keys)
			for i, k := range batch.Keys {
				out[k] = slices.Clone(batch.X.Float32s()[i*per : (i+1)*per])
			}
			batch.Release()
		}
		return out, l.State()
	}
	plain := transformLoader(t, paths, nil, 2)
	one, four := transformLoader(t, paths, ts, 1), transformLoader(t, paths, ts, 4)
	if got := one.Shape(); !slices.Equal(got, []int{1, 12, 12}) {
		t.Fatalf("shape %v, want [1 12 12]", got)
	}
	start := one.Sampler().Start(3)
	raw, _ := samples(plain, start, -1)
	a, _ := samples(one, start, -1)
	b, _ := samples(four, start, -1)
	flipped := 0
	for k, x := range raw {
		y := a[k]
		if !slices.Equal(y, b[k]) {
			t.Fatalf("record %s transforms differently on 1 and 4 decoders", k)
		}
		inner := make([]float32, 64)
		for r := range 8 {
			copy(inner[r*8:(r+1)*8], y[(r+2)*12+2:(r+2)*12+10])
		}
		for i, v := range y {
			if r, c := i/12, i%12; (r < 2 || r >= 10 || c < 2 || c >= 10) && v != 0 {
				t.Fatalf("record %s: padding value %v at row %d column %d", k, v, r, c)
			}
		}
		if !slices.Equal(inner, x) {
			flipped++
			for r := range 8 {
				row := slices.Clone(x[r*8 : (r+1)*8])
				slices.Reverse(row)
				if !slices.Equal(inner[r*8:(r+1)*8], row) {
					t.Fatalf("record %s is neither the sample nor its mirror image", k)
				}
			}
		}
	}
	if flipped == 0 || flipped == len(raw) {
		t.Errorf("%d of %d records flipped by hflip (p 0.5)", flipped, len(raw))
	}
	// Resumed after two batches: the rest transforms as before.
	_, mid := samples(transformLoader(t, paths, ts, 2), start, 2)
	rest, _ := samples(transformLoader(t, paths, ts, 3), mid, -1)
	if len(rest) == 0 {
		t.Fatal("nothing after the resume")
	}
	for k, y := range rest {
		if !slices.Equal(y, a[k]) {
			t.Errorf("record %s transforms differently after a resume", k)
		}
	}
}
