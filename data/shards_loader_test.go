package data

import (
	"encoding/json"
	"errors"
	"io"
	"slices"
	"testing"
)

func newTestShardLoader(t *testing.T, paths []string, rank, world, workers int) *ShardLoader {
	t.Helper()
	return testShardLoader(t, paths, ShardSampler{Rank: rank, World: world, Workers: workers, Seed: 7, Shuffle: true, Buffer: 4}, 0)
}

// testShardLoader loads 8×8 images in batches of 3 on 2 decoders.
func testShardLoader(t *testing.T, paths []string, s ShardSampler, maxBad int) *ShardLoader {
	t.Helper()
	l, err := NewShardLoader(ShardLoaderOptions{Paths: paths, BatchSize: 3, Decoders: 2, Image: ImageFolderOptions{Size: 8}, MaxBad: maxBad, Sampler: s})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// readToError reads batches until Next fails and returns the error.
func readToError(l *ShardLoader) error {
	for {
		b, err := l.Next()
		if err != nil {
			return err
		}
		b.Release()
	}
}

// readKeys reads up to limit batches (all when negative) and returns their keys.
func readKeys(t *testing.T, l *ShardLoader, limit int) []string {
	t.Helper()
	return readKeysChecking(t, l, limit, nil)
}

// readKeysChecking is readKeys calling after (if set) with each batch's
// number once the batch is released.
func readKeysChecking(t *testing.T, l *ShardLoader, limit int, after func(b int)) []string {
	t.Helper()
	var keys []string
	for b := 0; limit < 0 || b < limit; b++ {
		batch, err := l.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if batch.X.Dim(0) != len(batch.Keys) {
			t.Fatalf("batch of %d samples with %d keys", batch.X.Dim(0), len(batch.Keys))
		}
		keys = append(keys, batch.Keys...)
		batch.Release()
		if after != nil {
			after(b)
		}
	}
	return keys
}

// runWorld runs every rank of a world from st (limit batches each, or to the
// end) and returns each rank's keys and state.
func runWorld(t *testing.T, paths []string, world, workers int, st *ShardState, limit int) ([][]string, []ShardState) {
	t.Helper()
	keys, states := make([][]string, world), make([]ShardState, world)
	for r := range world {
		l := newTestShardLoader(t, paths, r, world, workers)
		start := l.Sampler().Start(1)
		if st != nil {
			start = *st
		}
		if err := l.Start(start); err != nil {
			t.Fatal(err)
		}
		keys[r] = readKeys(t, l, limit)
		states[r] = l.State()
	}
	return keys, states
}

// checkExactlyOnce fails unless got holds every key of want once.
func checkExactlyOnce(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("%s: %d keys, want each of %d once", what, len(g), len(w))
	}
}

// TestShardResumeExact interrupts an epoch after two batches per rank,
// checkpoints the world's position (through JSON), and resumes it with the
// same and with other world sizes and worker counts: the same world
// continues each rank's sequence exactly; every regroup sees exactly the
// samples not yet seen.
func TestShardResumeExact(t *testing.T) {
	paths, all := writeTestShards(t, t.TempDir(), []int{5, 9, 13, 6, 11, 7, 10, 8, 12})
	for _, world := range []int{1, 2, 3} {
		full, _ := runWorld(t, paths, world, 2, nil, -1)
		checkExactlyOnce(t, "uninterrupted epoch", slices.Concat(full...), all)
		head, states := runWorld(t, paths, world, 2, nil, 2)
		merged, err := MergeShardStates(states)
		if err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(merged)
		var saved ShardState
		if err := json.Unmarshal(js, &saved); err != nil {
			t.Fatal(err)
		}
		tail, _ := runWorld(t, paths, world, 2, &saved, -1)
		for r := range world {
			if !slices.Equal(slices.Concat(head[r], tail[r]), full[r]) {
				t.Errorf("world %d rank %d: resumed %v + %v, uninterrupted %v", world, r, head[r], tail[r], full[r])
			}
		}
		for _, to := range [][2]int{{1, 1}, {2, 3}, {4, 1}, {world, 1}} {
			rest, _ := runWorld(t, paths, to[0], to[1], &saved, -1)
			checkExactlyOnce(t, "regrouped", slices.Concat(slices.Concat(head...), slices.Concat(rest...)), all)
		}
	}
}

// TestShardRegroupTwice regroups a regrouped run again mid-epoch.
func TestShardRegroupTwice(t *testing.T) {
	paths, all := writeTestShards(t, t.TempDir(), []int{7, 3, 9, 5})
	head, states := runWorld(t, paths, 2, 2, nil, 1)
	st, err := MergeShardStates(states)
	if err != nil {
		t.Fatal(err)
	}
	mid, states := runWorld(t, paths, 3, 1, &st, 2)
	if st, err = MergeShardStates(states); err != nil {
		t.Fatal(err)
	}
	rest, _ := runWorld(t, paths, 1, 2, &st, -1)
	checkExactlyOnce(t, "regrouped twice", slices.Concat(slices.Concat(head...), slices.Concat(mid...), rest[0]), all)
}

// TestShardEpochsDiffer: the seeded shard order and block shuffle change
// from epoch to epoch and repeat for the same epoch.
func TestShardEpochsDiffer(t *testing.T) {
	paths, _ := writeTestShards(t, t.TempDir(), []int{6, 6, 6})
	l := newTestShardLoader(t, paths, 0, 1, 1)
	var seqs [][]string
	for _, e := range []int{1, 2, 1} {
		if err := l.Start(l.Sampler().Start(e)); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, readKeys(t, l, -1))
	}
	if slices.Equal(seqs[0], seqs[1]) || !slices.Equal(seqs[0], seqs[2]) {
		t.Errorf("epochs 1, 2, 1: %v", seqs)
	}
}

func TestMergeShardStatesErrors(t *testing.T) {
	s := ShardSampler{Shards: 2, World: 2, Workers: 1}
	a, b := s.Start(0), s.Start(1)
	if _, err := MergeShardStates([]ShardState{a, b}); err == nil {
		t.Error("states of different epochs merged")
	}
	if _, err := MergeShardStates([]ShardState{a}); err == nil {
		t.Error("one state for a world of 2 merged")
	}
	if _, err := s.Regroup(ShardState{World: 2, Workers: 1}); err == nil || errors.Is(err, io.EOF) {
		t.Error("state without positions regrouped")
	}
}

// TestShardRotation: a rank takes its streams' records in turn, so the
// first records of an epoch come from as many shards as it has workers.
func TestShardRotation(t *testing.T) {
	paths, _ := writeTestShards(t, t.TempDir(), []int{6, 6, 6})
	l := newTestShardLoader(t, paths, 0, 1, 3)
	if err := l.Start(l.Sampler().Start(0)); err != nil {
		t.Fatal(err)
	}
	b, err := l.Next()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	if s := b.Shards; s[0] == s[1] || s[1] == s[2] || s[0] == s[2] {
		t.Errorf("first batch from shards %v, want three different", s)
	}
}
