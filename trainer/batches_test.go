package trainer

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/collective"
	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// writeShards writes shards tar files of perShard records each (key.jpg,
// an 8x8 grey JPEG of a seeded pattern, and key.cls) into dir. corrupt
// names keys whose JPEG is cut in half.
func writeShards(t *testing.T, dir string, shards, perShard int, corrupt ...string) {
	t.Helper()
	counts := make([]int, shards)
	for i := range counts {
		counts[i] = perShard
	}
	writeShardCounts(t, dir, counts, corrupt...)
}

// writeShardCounts writes shard s with counts[s] records.
func writeShardCounts(t *testing.T, dir string, counts []int, corrupt ...string) {
	t.Helper()
	rng := tensor.NewRNG(42)
	for s, perShard := range counts {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for i := range perShard {
			key := fmt.Sprintf("s%02d-%03d", s, i)
			img := image.NewGray(image.Rect(0, 0, 8, 8))
			for p := range img.Pix {
				img.Pix[p] = uint8(rng.IntN(256))
			}
			img.SetGray(i%8, s%8, color.Gray{Y: 255})
			var jb bytes.Buffer
			if err := jpeg.Encode(&jb, img, &jpeg.Options{Quality: 95}); err != nil {
				t.Fatal(err)
			}
			b := jb.Bytes()
			for _, c := range corrupt {
				if c == key {
					b = b[:len(b)/2]
				}
			}
			for _, m := range []struct {
				name string
				body []byte
			}{{key + ".jpg", b}, {key + ".cls", []byte(fmt.Sprint(i % 3))}} {
				if err := tw.WriteHeader(&tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.body))}); err != nil {
					t.Fatal(err)
				}
				if _, err := tw.Write(m.body); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("shard-%06d.tar", s)), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// shardConfig trains a small MLP on 8x8 grey images from the shards in
// dir: 3 shards of 11 records are 4 batches of 8 an epoch (the partial
// fifth dropped), so 20 steps cross four epochs.
func shardConfig(dir, dtype string, steps int) Config {
	c := toyConfig("fd-ssm", steps)
	c.DType = dtype
	c.Model = map[string]any{"kind": "mlp", "input_dim": 64, "hidden": []any{16}, "activation": "softplus"}
	c.Data = DataConfig{Shards: dir, ImageSize: 8, Channels: 1, ShuffleBuffer: 4}
	c.Batch = 8
	return c
}

// TestTrainOnShardsResumesExactly: a run over tar shards, interrupted
// mid-epoch and resumed, ends bitwise where an uninterrupted run ends, in
// float32 (the loader's batches), float64 (converted copies) and with a
// random flip; the checkpoint records the shard position.
func TestTrainOnShardsResumesExactly(t *testing.T) {
	shards := t.TempDir()
	writeShards(t, shards, 3, 11)
	for _, dt := range []string{"float32", "float64", "float32+hflip"} {
		t.Run(dt, func(t *testing.T) {
			c := shardConfig(shards, strings.TrimSuffix(dt, "+hflip"), 20)
			if strings.HasSuffix(dt, "+hflip") {
				c.Data.Transforms = []string{"hflip"} // random per record: resumes alike
			}
			a, b := t.TempDir(), t.TempDir()
			full := train(t, c, a, false)
			stopAt(t, c, b, 6) // epoch 1, second batch
			st := readState(t, b)
			if st.Shards == nil || st.Step != 6 || st.Epoch != 1 || st.Shards.Epoch != 1 {
				t.Fatalf("interrupted checkpoint: step %d epoch %d shards %+v; want step 6 in epoch 1 with a shard position", st.Step, st.Epoch, st.Shards)
			}
			resumed := train(t, c, b, true)
			sameParams(t, full.Checkpoint, resumed.Checkpoint)
			if full.LastLoss != resumed.LastLoss || full.Steps != 20 {
				t.Errorf("last loss %v uninterrupted, %v resumed (%d steps)", full.LastLoss, resumed.LastLoss, full.Steps)
			}
		})
	}
}

// readState reads the newest checkpoint's state.json of the run in dir.
func readState(t *testing.T, dir string) trainState {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(checkpointRoot(dir), "step-*", "state.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no checkpoint in %s (%v)", dir, err)
	}
	b, err := os.ReadFile(paths[len(paths)-1])
	if err != nil {
		t.Fatal(err)
	}
	var st trainState
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestShardBadRecords: a corrupt JPEG fails the run naming the shard and
// the key when data.max_bad is 0 (the default), and is skipped (the run
// trains) when the limit allows it.
func TestShardBadRecords(t *testing.T) {
	shards := t.TempDir()
	writeShards(t, shards, 3, 11, "s01-004")
	c := shardConfig(shards, "float32", 8)
	_, err := Run{Config: c, Dir: t.TempDir(), Log: zerolog.Nop()}.Train(context.Background())
	if err == nil || !strings.Contains(err.Error(), "shard-000001.tar") || !strings.Contains(err.Error(), "s01-004") {
		t.Fatalf("corrupt record with max_bad 0: %v; want an error naming shard-000001.tar and s01-004", err)
	}
	c.Data.MaxBad = 1
	if s := train(t, c, t.TempDir(), false); s.Steps != 8 {
		t.Fatalf("trained %d steps with the bad record skipped, want 8", s.Steps)
	}
}

// TestShardsTooFewRecords: a rank that gets no shard (one shard, two
// ranks) fails the run naming the cause; it used to start epoch after
// empty epoch forever.
func TestShardsTooFewRecords(t *testing.T) {
	shards := t.TempDir()
	writeShardCounts(t, shards, []int{20})
	c := shardConfig(shards, "float32", 10)
	c.Batch = 8
	c.Schedule = ScheduleConfig{Kind: "constant"}
	dir := t.TempDir()
	comms := collective.NewLocalComms(2, 3*time.Second) // the healthy rank then gives up on its peer soon
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Go(func() {
			_, errs[r] = (Run{Config: c, Dir: dir, Log: zerolog.Nop(), Dist: &Distributed{Comm: comms[r]}}).Train(context.Background())
		})
	}
	wg.Wait()
	err := errors.Join(errs...)
	if err == nil || !strings.Contains(err.Error(), "3 epochs in a row gave rank 1 less than a batch of 8") {
		t.Fatalf("a rank without a shard: %v", err)
	}
}

// TestShardConfigErrors: what cannot work is refused before training, with
// the key named.
func TestShardConfigErrors(t *testing.T) {
	shards := t.TempDir()
	writeShards(t, shards, 2, 11)
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"both", func(c *Config) { c.Data.Name = "mnist" }, "not both"},
		{"transformed shape", func(c *Config) { c.Data.Transforms = []string{"pad:32"} }, "after the transforms"},
		{"bad transform", func(c *Config) { c.Data.Transforms = []string{"rotate"} }, "data.transforms"},
		{"holdout", func(c *Config) { c.Data.Holdout = 0.1 }, "holdout and limit"},
		{"channels", func(c *Config) { c.Data.Channels = 2 }, "channels 1 or 3"},
		{"decoder", func(c *Config) { c.Data.Decoder = "opencv" }, "data.decoder"},
		{"missing", func(c *Config) { c.Data.Shards = filepath.Join(shards, "nothing-*.tar") }, "fdsm data shard"},
		{"shape", func(c *Config) { c.Data.ImageSize = 16 }, "data.image_size"},
	} {
		c := shardConfig(shards, "float32", 4)
		tc.edit(&c)
		_, err := Run{Config: c, Dir: t.TempDir(), Log: zerolog.Nop()}.Train(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error containing %q", tc.name, err, tc.want)
		}
	}
	// A checkpoint of an indexed run does not resume over shards, nor the
	// reverse (the positions mean different things).
	cs, ci := shardConfig(shards, "float32", 4), toyConfig("fd-ssm", 4)
	src, err := (Run{Config: cs, Log: zerolog.Nop()}).newShardSource(mustModel(t, cs), tensor.DefaultCPU(), tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer src.close()
	if _, err := src.resume(trainState{Step: 3, Epoch: 0, Position: 24}, 1, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "indexed dataset") {
		t.Errorf("shards resuming an indexed checkpoint: %v", err)
	}
	l, _, err := (Run{Config: ci, Log: zerolog.Nop()}).newLoader(mustModel(t, ci), tensor.DefaultCPU(), tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	idx := indexedSource{l}
	defer idx.close()
	pos := src.position()
	if _, err := idx.resume(trainState{Step: 3, Shards: pos.Shards}, 1, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "tar shards") {
		t.Errorf("indexed resuming a shards checkpoint: %v", err)
	}
}

func mustModel(t *testing.T, c Config) models.Model {
	t.Helper()
	m, err := models.Build(c.ModelSpec(), tensor.DefaultCPU(), tensor.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestShardsDataParallelResumesExactly: two ranks stream shards of their
// own (of different sizes, so the ranks' epochs end at different steps);
// a run stopped at a checkpoint and resumed ends bitwise where an
// uninterrupted one ends, both when the ranks stopped in one epoch (the
// world's merged position) and in different epochs (each rank's own).
// Another world size resumes the merged position and refuses the per-rank
// one, saying why.
func TestShardsDataParallelResumesExactly(t *testing.T) {
	cfg := unevenShards(t, false)
	full := trainWorld(t, cfg(24), 2, t.TempDir(), false)
	kinds := map[string]string{}                  // kind -> a run directory stopped there
	for _, stop := range []int{3, 7, 9, 13, 20} { // 7, 13 and 20: the ranks in different epochs
		dir := t.TempDir()
		trainWorld(t, cfg(stop), 2, dir, false)
		st := readState(t, dir)
		switch {
		case st.Shards != nil && st.ShardRanks == nil:
			kinds["merged"] = dir
		case st.Shards == nil && len(st.ShardRanks) == 2 && st.ShardRanks[0].Epoch != st.ShardRanks[1].Epoch:
			kinds["per rank"] = dir
			// Another world size cannot split per-rank positions: refused, saying why.
			_, err := (Run{Config: cfg(24), Dir: dir, Resume: true, Log: zerolog.Nop()}).Train(context.Background())
			if err == nil || !strings.Contains(err.Error(), "different epochs") || !strings.Contains(err.Error(), "resume with 2") {
				t.Errorf("stop %d: per-rank position on one rank: %v", stop, err)
			}
		default:
			t.Fatalf("stop %d: state has shards %v and shard_ranks %v", stop, st.Shards != nil, st.ShardRanks)
		}
		resumed := trainWorld(t, cfg(24), 2, dir, true)
		if d := maxRelDiff(resumed.Model, full.Model); d != 0 {
			t.Fatalf("stopped at %d and resumed: parameters differ from the uninterrupted run by %g", stop, d)
		}
	}
	if len(kinds) != 2 {
		t.Fatalf("the stops covered only %v; want a merged and a per-rank position", kinds)
	}
	// Another world size resumes the merged position: the unread shards
	// regroup over the new world.
	if s, err := (Run{Config: cfg(30), Dir: kinds["merged"], Resume: true, Log: zerolog.Nop()}).Train(context.Background()); err != nil || s.Steps != 30 {
		t.Errorf("merged position on one rank: %d steps, %v", s.Steps, err)
	}
}

// TestIndexedShardsResumeOnAnyWorld: with a shard index the ranks end
// every epoch together, so every checkpoint holds the world's position
// (none per rank, which the stops at 7, 13 and 20 gave without an index);
// each resumes bitwise on the same world and regroups onto 1 or 3 ranks.
func TestIndexedShardsResumeOnAnyWorld(t *testing.T) {
	cfg := unevenShards(t, true)
	full := trainWorld(t, cfg(24), 2, t.TempDir(), false)
	for _, stop := range []int{3, 7, 9, 13, 20} {
		dir := t.TempDir()
		trainWorld(t, cfg(stop), 2, dir, false)
		st := readState(t, dir)
		if st.Shards == nil || st.ShardRanks != nil || st.Shards.Epoch != st.Epoch {
			t.Fatalf("stop %d: state has shards %+v, shard_ranks %v, epoch %d", stop, st.Shards, st.ShardRanks, st.Epoch)
		}
		for _, world := range []int{1, 3} {
			regrouped := t.TempDir()
			if err := os.CopyFS(regrouped, os.DirFS(dir)); err != nil {
				t.Fatal(err)
			}
			if s := trainWorld(t, cfg(24), world, regrouped, true); s.Steps != 24 {
				t.Errorf("stop %d regrouped onto %d ranks: %d steps", stop, world, s.Steps)
			}
		}
		resumed := trainWorld(t, cfg(24), 2, dir, true)
		if d := maxRelDiff(resumed.Model, full.Model); d != 0 {
			t.Fatalf("stopped at %d and resumed: parameters differ from the uninterrupted run by %g", stop, d)
		}
	}
}

// TestShardsDataParallelInterruptAnywhere: two ranks over shards,
// interrupted at any collective (gradient buckets, control messages, the
// gathering of shard positions at a checkpoint), then resumed, end with
// the uninterrupted run's final checkpoint byte for byte. Without a shard
// index an interrupt writes no checkpoint of its own (the other ranks'
// positions cannot be gathered then), so the resume starts from the last
// periodic one; with the index every rank computes the world's position,
// so the interrupt checkpoints the last completed step.
func TestShardsDataParallelInterruptAnywhere(t *testing.T) {
	for _, indexed := range []bool{false, true} {
		cfg := unevenShards(t, indexed)
		c := cfg(8)
		c.Checkpoint = CheckpointConfig{Every: 3, Keep: 2}
		const world = 2
		refDir := t.TempDir()
		trainWorld(t, c, world, refDir, false)
		ref := readCheckpointFiles(t, refDir)
		run := func(dir string, comm collective.Comm) Run {
			return Run{Config: c, Dir: dir, Log: zerolog.Nop(), Dist: &Distributed{Comm: comm, HashEvery: 1}}
		}
		checkpointed := 0 // interrupts that checkpointed their last step
		interruptAtEach(t, world, run, func(at int64, dir string, sum Summary) {
			if indexed && sum.Steps > 0 {
				if st := readState(t, dir); st.Step != sum.Steps || st.Shards == nil {
					t.Fatalf("indexed, interrupt at collective %d after step %d: the newest checkpoint is of step %d (shards %v)", at, sum.Steps, st.Step, st.Shards != nil)
				}
				checkpointed++
			}
			trainWorld(t, c, world, dir, true)
			sameFiles(t, fmt.Sprintf("indexed %v, interrupt at collective %d", indexed, at), dir, ref)
		})
		if indexed && checkpointed < 6 {
			t.Errorf("indexed: only %d interrupts checkpointed the step they stopped after", checkpointed)
		}
	}
}

// unevenShards writes six shards of 6 to 13 records (indexed or not)
// and returns a config training on them in float64, batch 4, at a
// constant learning rate, for a number of steps.
func unevenShards(t *testing.T, indexed bool) func(steps int) Config {
	t.Helper()
	shards := t.TempDir()
	writeShardCounts(t, shards, []int{11, 7, 13, 9, 6, 10})
	if indexed {
		indexShards(t, shards)
	}
	return func(steps int) Config {
		c := shardConfig(shards, "float64", steps)
		c.Batch = 4
		c.Schedule = ScheduleConfig{Kind: "constant"}
		return c
	}
}

// indexShards writes the shard index of dir's shards.
func indexShards(t *testing.T, dir string) {
	t.Helper()
	paths, err := data.ShardFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := data.IndexShards(dir, paths, nil); err != nil {
		t.Fatal(err)
	}
}
