package data

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
)

// TestRotateMatchesOneByOne: rotate's whole rounds give what taking one
// record at a time in rotation.take's order gives, for random stream
// sizes, starting workers and amounts.
func TestRotateMatchesOneByOne(t *testing.T) {
	rng := tensor.NewRNG(3)
	for trial := range 2000 {
		W := 1 + rng.IntN(5)
		left := make([]int, W)
		total := 0
		for w := range left {
			if rng.IntN(4) > 0 {
				left[w] = rng.IntN(9)
			}
			total += left[w]
		}
		next, n := rng.IntN(W), rng.IntN(total+1)
		took := make([]int, W)
		gotNext := rotate(left, took, next, n)

		want, wantNext := make([]int, W), next
		for range n {
			for c := range W {
				if w := (wantNext + c) % W; left[w]-want[w] > 0 {
					want[w]++
					wantNext = (w + 1) % W
					break
				}
			}
		}
		if !slices.Equal(took, want) || gotNext != wantNext {
			t.Fatalf("trial %d: left %v next %d n %d: rotate took %v next %d, one by one %v next %d",
				trial, left, next, n, took, gotNext, want, wantNext)
		}
	}
}

// countedLoader is newTestShardLoader with the shards' record counts.
func countedLoader(t *testing.T, paths []string, counts []int, rank, world, workers, maxBad int) *ShardLoader {
	t.Helper()
	return testShardLoader(t, paths, ShardSampler{Rank: rank, World: world, Workers: workers, Seed: 7, Shuffle: true, Buffer: 4, Counts: counts}, maxBad)
}

// readCounted reads up to limit batches (all when negative), checking
// after each that the computed world position has this rank's real stream
// positions, and returns the keys.
func readCounted(t *testing.T, l *ShardLoader, limit int) []string {
	t.Helper()
	return readKeysChecking(t, l, limit, func(b int) {
		computed, s := l.State(), l.sampler
		for w := range s.Workers {
			j := w*s.World + s.Rank
			if computed.Streams[j] != l.state.Streams[j] {
				t.Fatalf("rank %d after batch %d: stream %d computed at %+v, read to %+v", s.Rank, b, j, computed.Streams[j], l.state.Streams[j])
			}
		}
		if computed.Next[s.Rank] != l.state.Next[s.Rank] {
			t.Fatalf("rank %d after batch %d: rotation computed at %d, is at %d", s.Rank, b, computed.Next[s.Rank], l.state.Next[s.Rank])
		}
	})
}

// TestCountedLoaderEndsEpochsTogether: with the record counts, every rank
// of a world delivers the same number of full batches (the fewest any rank
// has), in the order the uncounted loader reads them; the position every
// rank computes is the world's, and resuming it, on the same or another
// world size, repeats nothing.
func TestCountedLoaderEndsEpochsTogether(t *testing.T) {
	counts := []int{5, 9, 13, 6, 0, 11, 7, 10, 8, 12}
	paths, _ := writeTestShards(t, t.TempDir(), counts)
	for _, world := range []int{1, 2, 3} {
		for _, workers := range []int{1, 2} {
			plain, _ := runWorld(t, paths, world, workers, nil, -1)
			var states []ShardState
			var head [][]string
			for r := range world {
				l := countedLoader(t, paths, counts, r, world, workers, 0)
				st := l.Sampler().Start(1)
				if err := l.Start(st); err != nil {
					t.Fatal(err)
				}
				want := l.Sampler().EpochBatches(st, 3)
				keys := readCounted(t, l, -1)
				if len(keys) != 3*want || !slices.Equal(keys, plain[r][:len(keys)]) {
					t.Fatalf("world %d workers %d rank %d: %d keys (want %d batches of 3), the uncounted loader's first: %v vs %v",
						world, workers, r, len(keys), want, keys, plain[r])
				}
				// The same rank stopped after two batches: its position is the world's.
				l2 := countedLoader(t, paths, counts, r, world, workers, 0)
				if err := l2.Start(st); err != nil {
					t.Fatal(err)
				}
				head = append(head, readCounted(t, l2, 2))
				states = append(states, l2.State())
			}
			for r := 1; r < world; r++ {
				if a, b := mustJSON(t, states[0]), mustJSON(t, states[r]); a != b {
					t.Fatalf("world %d: rank 0 computes %s, rank %d %s", world, a, r, b)
				}
			}
			for _, to := range [][2]int{{world, workers}, {1, 1}, {2, 3}, {4, 1}} {
				var rest []string
				n := -1
				for r := range to[0] {
					l := countedLoader(t, paths, counts, r, to[0], to[1], 0)
					if err := l.Start(states[0]); err != nil {
						t.Fatal(err)
					}
					keys := readCounted(t, l, -1)
					if n >= 0 && len(keys) != n {
						t.Fatalf("world %d regrouped to %v: rank %d read %d records, rank 0 %d", world, to, r, len(keys), n)
					}
					n = len(keys)
					if to[0] == world && to[1] == workers && !slices.Equal(slices.Concat(head[r], keys), plain[r][:len(head[r])+len(keys)]) {
						t.Fatalf("world %d rank %d resumed: %v + %v, uncounted %v", world, r, head[r], keys, plain[r])
					}
					rest = append(rest, keys...)
				}
				seen := slices.Concat(slices.Concat(head...), rest)
				slices.Sort(seen)
				if len(slices.Compact(slices.Clone(seen))) != len(seen) {
					t.Fatalf("world %d regrouped to %v: a record delivered twice in one epoch", world, to)
				}
			}
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCountedLoaderBadRecordsKeepPlaces: under counted sampling a corrupt
// image, an unusable record and the records a truncated shard lost keep
// their places (filled from the batch's good records), so both ranks still
// deliver the epoch's batches and the computed positions stay exact;
// without a limit on bad inputs the first is an error naming it.
func TestCountedLoaderBadRecordsKeepPlaces(t *testing.T) {
	paths, good := writeBadShards(t, t.TempDir())
	// c.tar first, cut inside its fourth record (three lost): batches of 5
	// are c0-c4, c5-a2, a3-b3 on one rank.
	paths = []string{paths[2], paths[0], paths[1]}
	counts := []int{6, 5, 4}
	for _, world := range []int{1, 2} {
		var bad []BadInput
		var n int
		for r := range world {
			l, err := NewShardLoader(ShardLoaderOptions{Paths: paths, BatchSize: 5, Decoders: 2, Image: ImageFolderOptions{Size: 8}, MaxBad: -1,
				Sampler: ShardSampler{Rank: r, World: world, Workers: 1, Buffer: 2, Counts: counts},
				OnBad:   func(b BadInput) { bad = append(bad, b) }})
			if err != nil {
				t.Fatal(err)
			}
			st := l.Sampler().Start(0)
			if err := l.Start(st); err != nil {
				t.Fatal(err)
			}
			keys := readCounted(t, l, -1)
			l.Close()
			if want := 5 * l.Sampler().EpochBatches(st, 5); len(keys) != want {
				t.Fatalf("world %d rank %d: %d samples, want %d", world, r, len(keys), want)
			}
			if r > 0 && len(keys) != n {
				t.Fatalf("world %d: rank %d delivered %d samples, rank 0 %d", world, r, len(keys), n)
			}
			n = len(keys)
			for _, k := range keys {
				if !slices.Contains(good, k) {
					t.Errorf("world %d rank %d: sample %q is not a good record", world, r, k)
				}
			}
		}
		if world == 1 {
			var lost int
			for _, b := range bad {
				if strings.Contains(b.Error(), "after 3 of its 6 indexed records") {
					lost++
				}
			}
			if len(bad) != 6 || lost != 3 {
				t.Errorf("one rank: bad inputs %v; want a9, b1, b2 and c3, c4, c5 lost", bad)
			}
		}
	}
	l, err := NewShardLoader(ShardLoaderOptions{Paths: paths, BatchSize: 2, Image: ImageFolderOptions{Size: 8},
		Sampler: ShardSampler{World: 1, Workers: 1, Buffer: 2, Counts: counts}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Start(l.Sampler().Start(0)); err != nil {
		t.Fatal(err)
	}
	if err := readToError(l); err == io.EOF || !strings.Contains(err.Error(), ".tar") {
		t.Errorf("no bad inputs allowed: %v", err)
	}
}

// TestShardIndex: IndexShards counts records (a record without an image
// counts: it holds a place), ShardCounts reads them back for the paths,
// flags a shard whose size changed, and refuses a shard the index lacks;
// without an index there are no counts. A damaged shard is not indexed.
func TestShardIndex(t *testing.T) {
	dir := t.TempDir()
	paths, _ := writeTestShards(t, dir, []int{3, 0, 5})
	if c, _, err := ShardCounts(paths); c != nil || err != nil {
		t.Fatalf("no index: counts %v, %v", c, err)
	}
	if _, err := IndexShards(dir, paths, nil); err != nil {
		t.Fatal(err)
	}
	counts, stale, err := ShardCounts(paths)
	if err != nil || !slices.Equal(counts, []int{3, 0, 5}) || stale != nil {
		t.Fatalf("counts %v stale %v, %v", counts, stale, err)
	}
	writeTar(t, paths[0], recordMembers(t, "x", 1)) // rewritten, one record
	if _, stale, _ := ShardCounts(paths); !slices.Equal(stale, paths[:1]) {
		t.Errorf("rewritten shard not flagged: stale %v", stale)
	}
	extra := filepath.Join(dir, "t-999.tar")
	writeTar(t, extra, recordMembers(t, "y", 2))
	if _, _, err := ShardCounts(append(paths, extra)); err == nil || !strings.Contains(err.Error(), "fdsm data index") {
		t.Errorf("shard missing from the index: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ShardIndexName), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ShardCounts(paths); err == nil {
		t.Error("a corrupt index read")
	}
	badPaths, _ := writeBadShards(t, t.TempDir())
	if _, err := IndexShards(filepath.Dir(badPaths[0]), badPaths, nil); err == nil || !strings.Contains(err.Error(), "c.tar") {
		t.Errorf("indexing a truncated shard: %v", err)
	}
}
