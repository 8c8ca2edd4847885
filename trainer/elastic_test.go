package trainer

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/bus"
	"github.com/fdsm-go/fdsm/cluster"
)

// TestElasticSurvivesLostMember: three members train with checkpoints every
// 4 steps; one (each of them in turn, rank 0 included) dies after step 6.
// The survivors regroup with a replacement that was waiting, resume from
// step 4 and finish all 20 steps; the final checkpoint is complete.
func TestElasticSurvivesLostMember(t *testing.T) {
	for victim := 0; victim < 3; victim++ {
		dir := t.TempDir()
		cohort := cluster.NewLocalCohort(2, 3, 200*time.Millisecond)
		c := ddpConfig(8, 1, 20)
		c.Checkpoint = CheckpointConfig{Every: 4, Keep: 3}
		var (
			mu     sync.Mutex
			events []bus.Event
			killed sync.Once
			wg     sync.WaitGroup
		)
		sums := make([]Summary, 4)
		errs := make([]error, 4)
		var start func(id int)
		start = func(id int) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e := Elastic{
					Run:    Run{Config: c, Dir: dir, Log: zerolog.Nop()},
					Former: cohort.Member(id),
					Dist:   Distributed{HashEvery: 1},
					OnEvent: func(ev bus.Event) {
						mu.Lock()
						events = append(events, ev)
						mu.Unlock()
					},
				}
				e.Dist.OnStep = func(m DistStepMetrics) {
					if m.Step == 6 && m.Generation == 1 {
						killed.Do(func() {
							start(3) // the replacement waits for the next regroup
							time.Sleep(20 * time.Millisecond)
							cohort.Kill(victim)
						})
					}
				}
				sums[id], errs[id] = e.Train(context.Background())
			}()
		}
		for id := 0; id < 3; id++ {
			start(id)
		}
		wg.Wait()
		for id, err := range errs {
			switch {
			case id == victim && (err == nil || !strings.Contains(err.Error(), "dead")):
				t.Errorf("victim %d: %v, want it dead", id, err)
			case id != victim && err != nil:
				t.Errorf("victim %d: member %d: %v", victim, id, err)
			case id != victim && sums[id].Steps != 20:
				t.Errorf("victim %d: member %d finished at step %d", victim, id, sums[id].Steps)
			}
		}
		if step, _, ok := CompletedRun(dir, 20); !ok {
			t.Errorf("victim %d: last checkpoint at step %d", victim, step)
		}
		// Generation 2: the two survivors regroup, the replacement starts.
		kinds := map[string]int{}
		for _, ev := range events {
			if ev.Generation == 2 && (ev.Kind == bus.EventRegroup || ev.Kind == bus.EventStart) {
				kinds[ev.Kind]++
				if ev.Kind == bus.EventRegroup && !strings.Contains(ev.Reason, "member") {
					t.Errorf("victim %d: regroup event without the reason: %+v", victim, ev)
				}
				if ev.World != 3 {
					t.Errorf("victim %d: %+v, want world 3 (two survivors and the replacement)", victim, ev)
				}
			}
		}
		if kinds[bus.EventRegroup] != 2 || kinds[bus.EventStart] != 1 {
			t.Errorf("victim %d: generation 2 events %v, want 2 regroups and 1 start", victim, kinds)
		}
	}
}

// TestElasticTooFewMembersFails: below the minimum the rendezvous gives up
// with a clear error.
func TestElasticTooFewMembersFails(t *testing.T) {
	cohort := cluster.NewLocalCohort(2, 2, 0)
	cohort.Timeout = 200 * time.Millisecond
	e := Elastic{Run: Run{Config: ddpConfig(8, 1, 5), Dir: t.TempDir(), Log: zerolog.Nop()}, Former: cohort.Member(0)}
	_, err := e.Train(context.Background())
	if err == nil || !strings.Contains(err.Error(), "too few members") {
		t.Fatalf("got %v", err)
	}
}
