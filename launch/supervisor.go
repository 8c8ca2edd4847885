package launch

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// supervisor is the state of one RunReport: the worker slots and whether
// (and why) the launch is stopping.
//
// Threading: only RunReport's goroutine touches it; each worker's waiting
// goroutine reports through exits, restart timers through restartDue.
type supervisor struct {
	p          *Plan
	log        zerolog.Logger
	slots      []slotState
	exits      chan exitEvent
	restartDue chan int
	running    int

	stopping bool
	reason   error // what RunReport returns once stopping and no worker runs
	grace    *time.Timer
	graceC   <-chan time.Time // fires SIGKILL when the grace period ends
}

func newSupervisor(p *Plan, log zerolog.Logger) *supervisor {
	n := len(p.Workers)
	s := &supervisor{p: p, log: log, slots: make([]slotState, n),
		exits: make(chan exitEvent, n), restartDue: make(chan int, n)}
	for i := range s.slots {
		s.slots[i].code = -1
	}
	return s
}

// signalAll sends sig to every running worker's process group.
func (s *supervisor) signalAll(sig syscall.Signal) {
	for i := range s.slots {
		if s.slots[i].pid > 0 {
			// ESRCH means it already exited; its exit event is on the way.
			_ = signalGroup(s.slots[i].pid, sig)
		}
	}
}

// start spawns slot i's next incarnation.
func (s *supervisor) start(i int) error {
	cfg := &s.p.Config
	pid, err := spawn(s.p, i, s.slots[i].restarts, s.exits)
	if err != nil {
		return fmt.Errorf("start worker %d (%s): %w", i, cfg.Executable, err)
	}
	s.slots[i].pid = pid
	s.running++
	w := s.p.Workers[i]
	s.log.Info().Int("local_rank", i).Int("rank", w.Rank).Int("pid", pid).
		Int("restart", s.slots[i].restarts).Str("log", w.LogFile).Msg("worker started")
	return nil
}

// stop signals every worker; the first call records why the launch ends and
// starts the grace period after which the rest are killed.
func (s *supervisor) stop(sig syscall.Signal, why error) {
	grace := s.p.Config.Grace
	if !s.stopping {
		s.stopping, s.reason = true, why
		s.grace = time.NewTimer(grace)
		s.graceC = s.grace.C
	}
	s.log.Info().Str("signal", sig.String()).Int("running", s.running).Float64("grace_s", grace.Seconds()).
		Msg("stopping workers")
	s.signalAll(sig)
}

// exited records an incarnation's end and lets handleExit decide what next.
func (s *supervisor) exited(ev exitEvent) {
	s.running--
	slot := &s.slots[ev.local]
	slot.pid = 0
	slot.status, slot.code = ev.status, ev.code
	delay := s.p.Config.RestartDelay
	s.p.handleExit(ev, s.slots, s.stopping, s.log, func(werr error) { s.stop(syscall.SIGTERM, werr) },
		func() { time.AfterFunc(delay, func() { s.restartDue <- ev.local }) })
}

// restart starts slot i again once its restart delay is over, unless the
// launch is stopping by then.
func (s *supervisor) restart(i int) {
	if s.stopping {
		return
	}
	s.slots[i].restarts++
	if err := s.start(i); err != nil {
		s.stop(syscall.SIGTERM, err)
	}
}

// signalled handles a signal to the launcher: the first stops the workers
// (forwarded as SIGINT or SIGTERM), a second kills them.
func (s *supervisor) signalled(sig os.Signal) {
	if s.stopping {
		s.log.Warn().Str("signal", sig.String()).Msg("second signal: killing workers now")
		s.signalAll(syscall.SIGKILL)
		return
	}
	s.stop(forwardable(sig), fmt.Errorf("%w by signal %v", ErrStopped, sig))
}

// graceOver kills the workers still running when the grace period ends.
func (s *supervisor) graceOver() {
	s.graceC = nil
	s.log.Warn().Int("running", s.running).Float64("grace_s", s.p.Config.Grace.Seconds()).
		Msg("workers still running after the grace period: killing them")
	s.signalAll(syscall.SIGKILL)
}

// cancelled stops the workers when the caller's context ends.
func (s *supervisor) cancelled(ctx context.Context) {
	if !s.stopping {
		s.stop(syscall.SIGTERM, fmt.Errorf("%w: %w", ErrStopped, context.Cause(ctx)))
	}
}
