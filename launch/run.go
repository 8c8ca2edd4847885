package launch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// ErrStopped is wrapped by Run's error when the launch was stopped from
// outside (context cancelled or a signal) rather than by a worker.
var ErrStopped = errors.New("launch stopped")

// WorkerError reports a worker that failed with no restarts left.
type WorkerError struct {
	NodeRank  int
	LocalRank int
	Rank      int // -1 when elastic
	Restarts  int // restarts done before this last failure
	Status    string
	ExitCode  int // -1 when killed by a signal
	LogFile   string
	Tail      []string // last lines of the failed incarnation's log
}

func (e *WorkerError) Error() string {
	who := fmt.Sprintf("worker %d on node %d", e.LocalRank, e.NodeRank)
	if e.Rank >= 0 {
		who += fmt.Sprintf(" (rank %d)", e.Rank)
	}
	return fmt.Sprintf("%s failed with %s after %d restarts; log: %s", who, e.Status, e.Restarts, e.LogFile)
}

// Run validates cfg, starts this node's workers and supervises them until
// all exit 0 (nil), one fails with no restarts left (*WorkerError), or ctx is
// cancelled or a signal arrives on cfg.Signals (an error wrapping
// ErrStopped). It returns only after every worker it started has exited.
func Run(ctx context.Context, cfg Config) error {
	p, err := NewPlan(cfg)
	if err != nil {
		return err
	}
	return p.Run(ctx)
}

// slotState is the supervisor's view of one worker slot.
type slotState struct {
	pid      int // 0 when not running
	restarts int
	done     bool   // exited 0
	status   string // how the last incarnation ended; "" before any did
	code     int    // its exit code, -1 when killed by a signal
}

// Run starts the plan's workers and supervises them; see the package Run.
// A Plan may be run more than once, one run at a time.
func (p *Plan) Run(ctx context.Context) error {
	_, err := p.RunReport(ctx)
	return err
}

// RunReport is Run that also reports what each worker did (restarts, how
// its last incarnation ended) and how long the run took, whatever the
// outcome.
//
// Threading: one goroutine (the caller's) owns all supervision state; each
// worker has a goroutine that only waits for it and reports its exit.
func (p *Plan) RunReport(ctx context.Context) (rep Report, err error) {
	cfg := &p.Config
	t0 := time.Now()
	log := cfg.Log.With().Str("job", cfg.Job).Int("node_rank", cfg.NodeRank).Logger()
	if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
		return rep, fmt.Errorf("create log directory: %w", err)
	}
	s := newSupervisor(p, log)
	defer func() { rep = p.report(s.slots, t0) }()
	// A panic below must not leave workers behind (Pdeathsig covers only the
	// launcher's death, not a recovered panic).
	defer func() {
		if r := recover(); r != nil {
			s.signalAll(syscall.SIGKILL)
			panic(r)
		}
	}()
	defer func() {
		if s.grace != nil {
			s.grace.Stop()
		}
	}()

	for i := range p.Workers {
		if err := s.start(i); err != nil {
			s.stop(syscall.SIGTERM, err)
			break
		}
	}
	ctxDone := ctx.Done()
	for {
		if s.stopping && s.running == 0 {
			return rep, s.reason
		}
		if !s.stopping && allDone(s.slots) {
			log.Info().Msg("all workers finished")
			return rep, nil
		}
		select {
		case ev := <-s.exits:
			s.exited(ev)
		case i := <-s.restartDue:
			s.restart(i)
		case <-ctxDone:
			ctxDone = nil
			s.cancelled(ctx)
		case sig := <-cfg.Signals:
			s.signalled(sig)
		case <-s.graceC:
			s.graceOver()
		}
	}
}

// handleExit decides what an ended incarnation means: nothing while
// stopping (exit 0 or ExitInterrupted is a clean stop), done on success, a
// restart while the slot has restarts left (never after ExitUsage), else the
// end of the launch (fail is called with a *WorkerError, after the
// log tail went to Stderr).
func (p *Plan) handleExit(ev exitEvent, slots []slotState, stopping bool, log zerolog.Logger,
	fail func(error), restart func()) {
	cfg := &p.Config
	w := p.Workers[ev.local]
	s := &slots[ev.local]
	switch {
	case stopping && (ev.success || ev.code == ExitInterrupted):
		log.Info().Int("local_rank", ev.local).Str("status", ev.status).Msg("worker stopped")
	case stopping:
		// Killed after the grace period (already warned about), or by the
		// signal before it could handle it: the report says it was not clean.
		log.Info().Int("local_rank", ev.local).Str("status", ev.status).Msg("worker exited")
	case ev.success:
		s.done = true
		log.Info().Int("local_rank", ev.local).Msg("worker finished")
	case s.restarts < cfg.MaxRestarts && ev.code != ExitUsage:
		var lastLine string
		if len(ev.tail) > 0 {
			lastLine = ev.tail[len(ev.tail)-1]
		}
		log.Warn().Int("local_rank", ev.local).Str("status", ev.status).
			Int("restart", s.restarts+1).Int("max_restarts", cfg.MaxRestarts).
			Str("log", w.LogFile).Str("last_line", lastLine).Msg("worker failed: restarting it")
		restart()
	default:
		werr := &WorkerError{NodeRank: cfg.NodeRank, LocalRank: ev.local, Rank: w.Rank,
			Restarts: s.restarts, Status: ev.status, ExitCode: ev.code, LogFile: w.LogFile, Tail: ev.tail}
		msg := "worker failed with no restarts left: stopping the others"
		if ev.code == ExitUsage {
			msg = "worker refused its command (exit 2: fix the command; a restart would fail the same way): stopping the others"
		}
		log.Error().Int("local_rank", ev.local).Str("status", ev.status).Str("log", w.LogFile).Msg(msg)
		p.printTail(werr)
		fail(werr)
	}
}

// printTail shows the end of a failed worker's log, so the real error is on
// the terminal rather than in a file to hunt for.
func (p *Plan) printTail(e *WorkerError) {
	var b strings.Builder
	fmt.Fprintf(&b, "fdsm launch: %v\n", e)
	if len(e.Tail) > 0 {
		fmt.Fprintf(&b, "---- last %d lines of %s ----\n", len(e.Tail), e.LogFile)
		for _, l := range e.Tail {
			b.WriteString("  " + l + "\n")
		}
		b.WriteString("----\n")
	}
	_, _ = fmt.Fprint(p.Config.Stderr, b.String())
}

func allDone(slots []slotState) bool {
	for _, s := range slots {
		if !s.done {
			return false
		}
	}
	return true
}

// forwardable maps a launcher signal to the one workers get: SIGINT and
// SIGTERM as they are, anything else (SIGHUP from a closed ssh session) as
// SIGTERM, which workers handle by checkpointing and exiting.
func forwardable(sig os.Signal) syscall.Signal {
	if s, ok := sig.(syscall.Signal); ok && (s == syscall.SIGINT || s == syscall.SIGTERM) {
		return s
	}
	return syscall.SIGTERM
}
