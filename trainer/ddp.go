package trainer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fdsm-go/fdsm/collective"
	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// Distributed makes a Run one rank of a data-parallel group, as PyTorch
// DDP does: every rank holds a replica, takes Config.Batch samples per
// micro-batch from its shard of the data (the global batch is Batch × world
// × Accumulate), averages gradients across ranks, and takes the same
// optimizer step. Rank 0 alone writes checkpoints, metrics and plots.
type Distributed struct {
	// Comm carries the gradients (the TCP ring on CPUs, NCCL on GPUs).
	Comm collective.Comm
	// Control carries the control messages (step statistics, commands,
	// state agreement and hashes, checkpoint files) on host memory; nil
	// sends them on Comm, after the gradients.
	Control    collective.Comm
	Generation uint64 // the group's generation, for logs and telemetry
	// Gradient buckets (0: DDP's defaults, 25 MiB and 1 MiB first).
	BucketBytes, FirstBucketBytes int
	// HashEvery compares a hash of the parameters (and the sampler
	// positions) across ranks every so many steps; a divergence stops the
	// run with an error. 0: every 100 steps; negative: never.
	HashEvery int
	// OnStep receives this rank's telemetry for every step (the caller
	// publishes it on the control bus).
	OnStep func(DistStepMetrics)
}

// DistStepMetrics is one rank's view of one step.
type DistStepMetrics struct {
	Rank, World      int
	Generation       uint64
	Step             int
	StepMs           float64
	DataWaitMs       float64
	ComputeMs        float64 // forward and backward, including communication hidden behind backward
	CollectiveWaitMs float64 // waiting for gradient all-reduces after backward ended
	Arrival          time.Time
	Loss             float64 // mean over ranks
	SamplesPerSec    float64 // this rank's
}

// rankState is one rank's sampler position in state.json.
type rankState struct {
	Rank     int `json:"rank"`
	Epoch    int `json:"epoch"`
	Position int `json:"position"`
	Offset   int `json:"offset"`
}

func (d *Distributed) rank() int {
	if d == nil {
		return 0
	}
	return d.Comm.Rank()
}

func (d *Distributed) world() int {
	if d == nil {
		return 1
	}
	return d.Comm.Size()
}

// control is the communicator of control messages.
func (d *Distributed) control() collective.Comm {
	if d.Control != nil {
		return d.Control
	}
	return d.Comm
}

func (d *Distributed) hashEvery() int {
	if d.HashEvery == 0 {
		return 100
	}
	return d.HashEvery
}

// stepSeed derives the random stream of one rank's step. Data-parallel
// ranks need independent directions and noise, and a stream that depends
// only on (seed, rank, step) makes resuming exact on any world size without
// saving generator states.
func stepSeed(seed uint64, rank, step int) uint64 {
	x := seed ^ 0x5eed
	for _, v := range []uint64{uint64(rank) + 1, uint64(step) + 1} {
		x ^= v * 0x9e3779b97f4a7c15
		x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
		x = (x ^ x>>27) * 0x94d049bb133111eb
		x ^= x >> 31
	}
	return x
}

// syncState makes every rank's model, optimizer and train state rank 0's:
// rank 0 writes a snapshot checkpoint into a private temporary directory
// (not the run directory: other ranks may not share it), its files
// travel by broadcast, and the other ranks load them with the same code that
// loads checkpoints from disk.
func syncState(ctx context.Context, d *Distributed, m models.Model, opt Optimizer, st trainState) (trainState, error) {
	tmp, err := os.MkdirTemp("", fmt.Sprintf("fdsm-sync-rank%d-", d.rank()))
	if err != nil {
		return st, err
	}
	defer os.RemoveAll(tmp)
	files := []string{"model.safetensors", "optimizer.safetensors", "state.json"}
	if d.rank() == 0 {
		if err := writeCheckpointFiles(tmp, m, opt, st); err != nil {
			return st, fmt.Errorf("state broadcast: %w", err)
		}
	}
	for _, f := range files {
		var b []byte
		if d.rank() == 0 {
			if b, err = os.ReadFile(filepath.Join(tmp, f)); err != nil {
				return st, err
			}
		}
		if b, err = collective.BroadcastBytes(ctx, d.control(), 0, b); err != nil {
			return st, fmt.Errorf("state broadcast (%s): %w", f, err)
		}
		if d.rank() != 0 {
			if err := os.WriteFile(filepath.Join(tmp, f), b, 0o644); err != nil {
				return st, err
			}
		}
	}
	if d.rank() == 0 {
		return st, nil
	}
	return loadCheckpoint(tmp, m, opt)
}

// checkReplicas compares the parameters' hash and the sampler positions
// across ranks; a difference is a clear error (replicas diverged: a bug or
// corrupted memory, never something to train through).
func checkReplicas(ctx context.Context, d *Distributed, m models.Model, step int, sst data.SamplerState) error {
	mine := replicaState{ParamHash: collective.HashTensors(paramTensors(m)), Step: int64(step),
		Epoch: int64(sst.Epoch), Position: int64(sst.Position), Offset: int64(sst.Offset)}
	all, err := collective.Exchange(ctx, d.control(), &mine)
	if err != nil {
		return fmt.Errorf("replica check at step %d: %w", step, err)
	}
	for r := 1; r < len(all); r++ {
		if all[r].ParamHash != all[0].ParamHash {
			return fmt.Errorf("replica check at step %d: rank %d's parameters differ from rank 0's (hash %016x vs %016x): the replicas diverged",
				step, r, all[r].ParamHash, all[0].ParamHash)
		}
		theirs := []int64{all[r].Step, all[r].Epoch, all[r].Position, all[r].Offset}
		for k, v0 := range []int64{all[0].Step, all[0].Epoch, all[0].Position, all[0].Offset} {
			if theirs[k] != v0 {
				name := []string{"step", "epoch", "sample position", "sample offset"}[k]
				return fmt.Errorf("replica check at step %d: rank %d's %s is %d, rank 0's %d", step, r, name, theirs[k], v0)
			}
		}
	}
	return nil
}

func paramTensors(m models.Model) []*tensor.Tensor {
	ps := m.Params()
	out := make([]*tensor.Tensor, len(ps))
	for i, p := range ps {
		out[i] = p.Value
	}
	return out
}
