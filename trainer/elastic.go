package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fdsm-go/fdsm/bus"
	"github.com/fdsm-go/fdsm/cluster"
	"github.com/fdsm-go/fdsm/collective"
)

// Elastic trains as one member of a fault-tolerant data-parallel job, as
// torchrun's elastic agent does: form a group, train, and when a member dies
// or hangs (its collective fails on every rank) form a new group from the
// live members, reload the last checkpoint and continue. Nothing that
// reached a checkpoint is lost; steps after it are redone. When members
// wait to join a group below its maximum size, rank 0's PollCommand may
// answer "regroup": every rank checkpoints after that step and the next
// group admits them (scale-up), losing nothing.
//
// The run directory must be shared by the members (one machine, or shared
// storage across nodes): whoever is rank 0 of a generation reads the last
// checkpoint from it and broadcasts it.
type Elastic struct {
	// Run is the template: Config, Dir, Resume (for the first group only;
	// later groups always resume), Log, OnStep (rank 0), PollCommand.
	Run Run
	// Former forms each generation's group.
	Former cluster.Former
	// Dist is the template of each generation's data-parallel settings;
	// its Comm and Generation are filled in per group.
	Dist Distributed
	// OnEvent, if set, receives start, regroup and finish events.
	OnEvent func(bus.Event)
	// MaxRegroups bounds recoveries (0: 100): a job that keeps failing is
	// a bug to report, not to loop on.
	MaxRegroups int
}

// Recoverable reports whether a training error is the loss of a member
// (a collective ended by a dead, hung or aborting peer), after which the
// survivors can regroup, rather than a fault that would repeat.
func Recoverable(err error) bool {
	if errors.Is(err, collective.ErrDesync) {
		return false // ranks disagree on the program: a bug, not a failure
	}
	return errors.Is(err, ErrRegroup) || errors.Is(err, collective.ErrPeerLost) || errors.Is(err, collective.ErrTimeout) ||
		errors.Is(err, collective.ErrAborted)
}

// Train runs until the configured steps are done, the run stops early,
// ctx ends, a non-recoverable error occurs, or a group cannot be formed.
func (e Elastic) Train(ctx context.Context) (Summary, error) {
	run := e.Run
	maxRegroups := e.MaxRegroups
	if maxRegroups <= 0 {
		maxRegroups = 100
	}
	var lastErr error // the failure that caused the current regroup
	for regroups := 0; ; regroups++ {
		if step, path, ok := CompletedRun(run.Dir, run.Config.Steps); ok && run.Resume {
			// The job completed while this member was away (or failed in its
			// final barrier after rank 0 wrote the last checkpoint).
			run.Log.Info().Int("step", step).Str("checkpoint", path).Msg("the run is already complete")
			return Summary{Steps: step, Checkpoint: path, AlreadyComplete: true}, nil
		}
		sess, err := e.Former.Form(ctx)
		if err != nil {
			return Summary{}, fmt.Errorf("forming a group: %w", err)
		}
		g := sess.Group
		d := e.Dist
		d.Comm, d.Control, d.Generation = sess.Comm, sess.Control, g.Generation
		run.Dist = &d
		run.Log = e.Run.Log.With().Int("rank", g.Rank).Int("world", g.Size()).Uint64("generation", g.Generation).Logger()
		kind := bus.EventStart
		if regroups > 0 {
			kind = bus.EventRegroup
		}
		run.Log.Info().Str("group", g.String()).Msg("group formed")
		ev := bus.Event{Kind: kind, Rank: g.Rank, Generation: g.Generation, World: g.Size()}
		if lastErr != nil {
			ev.Reason = lastErr.Error()
		}
		e.event(ev)
		sum, err := run.Train(ctx)
		sess.Close()
		if err == nil {
			e.event(bus.Event{Kind: bus.EventFinish, Rank: g.Rank, Generation: g.Generation, World: g.Size(), Step: sum.Steps})
			return sum, nil
		}
		if ctx.Err() != nil || !Recoverable(err) {
			return sum, err
		}
		if regroups+1 >= maxRegroups {
			return sum, fmt.Errorf("giving up after %d regroups; last failure: %w", regroups+1, err)
		}
		if errors.Is(err, ErrRegroup) {
			run.Log.Info().Int("step", sum.Steps).Msg("members are waiting to join: checkpointed, regrouping")
		} else {
			run.Log.Warn().Err(err).Msg("a member was lost: regrouping and resuming from the last checkpoint")
			e.event(bus.Event{Kind: bus.EventFail, Rank: g.Rank, Generation: g.Generation, World: g.Size(), Reason: err.Error()})
		}
		run.Resume = true
		lastErr = err
	}
}

func (e Elastic) event(ev bus.Event) {
	if e.OnEvent != nil {
		if ev.Time.IsZero() {
			ev.Time = time.Now()
		}
		e.OnEvent(ev)
	}
}

// CompletedRun reports whether dir's newest readable checkpoint is at or
// past step steps (the run is complete), with that checkpoint's step and path.
func CompletedRun(dir string, steps int) (int, string, bool) {
	for _, p := range listCheckpoints(dir) {
		b, err := os.ReadFile(filepath.Join(p, "state.json"))
		if err != nil {
			continue
		}
		var st struct {
			Step int `json:"step"`
		}
		if json.Unmarshal(b, &st) != nil {
			continue
		}
		return st.Step, p, st.Step >= steps
	}
	return 0, "", false
}
