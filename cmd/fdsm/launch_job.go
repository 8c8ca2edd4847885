package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/launch"
	"github.com/fdsm-go/fdsm/progress"
	"github.com/fdsm-go/fdsm/trainer"
)

// launchedTrain is what the launcher knows of the training job its workers
// run: where rank 0 writes its metrics and the configured steps.
type launchedTrain struct {
	out string // the run directory, as the workers resolve it
	cfg trainer.Config
}

// trainJob reads the workers' command line the way `fdsm train` does (its
// own flag set, so defaults and flag forms match), and builds its config.
// ok is false when the command is not train. This is the one place the
// launcher looks inside the workers' command.
func trainJob(args []string) (job launchedTrain, ok bool, err error) {
	c, rest, err := newRootCmd().Find(args)
	if err != nil || c.Name() != "train" {
		return job, false, nil
	}
	if err := c.ParseFlags(rest); err != nil {
		return job, true, err
	}
	f := c.Flags()
	job.out, _ = f.GetString("out")
	path, _ := f.GetString("config")
	sets, _ := f.GetStringArray("set")
	if job.cfg, err = trainer.LoadConfig(path); err != nil {
		return job, true, err
	}
	for _, s := range sets {
		if err := job.cfg.Set(s); err != nil {
			return job, true, err
		}
	}
	return job, true, nil
}

// metricsPath is rank 0's per-step log in the run directory.
func (j launchedTrain) metricsPath() string { return filepath.Join(j.out, trainer.MetricsFile) }

// batchLine says what is per rank and what is global in a data-parallel
// job of world ranks (lo..hi for an elastic job).
func (j launchedTrain) batchLine(lo, hi int) string {
	c := j.cfg
	acc := ""
	if c.Accumulate > 1 {
		acc = fmt.Sprintf(" x accumulate %d", c.Accumulate)
	}
	global := fmt.Sprintf("global batch %d (batch x %d ranks%s)", c.Batch*lo*c.Accumulate, lo, acc)
	if hi != lo {
		global = fmt.Sprintf("global batch %d to %d (batch x %d..%d ranks%s)",
			c.Batch*lo*c.Accumulate, c.Batch*hi*c.Accumulate, lo, hi, acc)
	}
	return fmt.Sprintf("train: %d optimizer steps, batch %d per rank, %s per step, lr %g (not scaled with the world)",
		c.Steps, c.Batch, global, c.Optimizer.LR)
}

// launchPollEvery is how often the launcher reads the job's metrics.
const launchPollEvery = 250 * time.Millisecond

// jobWatch shows a launched training job's progress on the launcher's
// console: it follows rank 0's metrics.jsonl (one line per step) and draws
// one progress line from the first step on, or logs progress every
// LogEvery where the console is not a terminal.
type jobWatch struct {
	tail  *launch.MetricsTail
	total int
	w     io.Writer
	draw  bool
	log   zerolog.Logger
	every time.Duration // between polls

	// Owned by the polling goroutine until done is closed.
	prog   launch.JobProgress
	bar    *progress.Bar
	warned bool

	quit, done chan struct{}
}

// watchJob starts following tail, polling it every so often.
func watchJob(w io.Writer, tail *launch.MetricsTail, total int, draw bool, log zerolog.Logger, every time.Duration) *jobWatch {
	j := &jobWatch{tail: tail, total: total, w: w, draw: draw, log: log, every: every,
		quit: make(chan struct{}), done: make(chan struct{})}
	go j.loop()
	return j
}

func (j *jobWatch) loop() {
	defer close(j.done)
	t := time.NewTicker(j.every)
	defer t.Stop()
	for {
		select {
		case <-j.quit:
			return
		case <-t.C:
			j.poll()
		}
	}
}

// poll folds in the steps written since the last poll and redraws.
func (j *jobWatch) poll() {
	recs, err := j.tail.Read()
	if err != nil && !j.warned {
		j.warned = true // once: the job goes on without its progress line
		j.log.Warn().Err(err).Msg("cannot follow the job's progress")
	}
	if len(recs) == 0 {
		return
	}
	for _, r := range recs {
		j.prog.Add(r)
	}
	if j.bar == nil {
		j.bar = progress.New(j.w, j.total, progress.Options{Label: "job", Unit: "step", Draw: j.draw, Log: j.logStatus})
		// The rate counts the steps this launch saw done, not a resumed
		// run's earlier ones.
		j.bar.Start(j.prog.First)
	}
	j.bar.Set(j.prog.Step, j.note())
}

func (j *jobWatch) note() string {
	n := fmt.Sprintf("loss %.4g", j.prog.Loss)
	if j.prog.Rewinds > 0 {
		n += fmt.Sprintf("  resumed %dx from a checkpoint", j.prog.Rewinds)
	}
	return n
}

// logStatus is the progress line's stand-in where it is not drawn.
func (j *jobWatch) logStatus(s progress.Status) {
	e := j.log.Info().Int("step", s.Done).Int("steps", s.Total).Float64("loss", j.prog.Loss).
		Float64("steps_per_s", s.Rate).Float64("elapsed_s", s.Elapsed.Seconds())
	if s.ETA >= 0 {
		e = e.Float64("eta_s", s.ETA.Seconds())
	}
	e.Int("resumed", j.prog.Rewinds).Msg("job progress")
}

// end stops following, reads what is left, and ends the line: as finished
// only when the job succeeded, else where it stood with reason.
func (j *jobWatch) end(succeeded bool, reason string) launch.JobProgress {
	close(j.quit)
	<-j.done
	j.poll()
	switch {
	case j.bar == nil:
	case succeeded:
		j.bar.Finish()
	default:
		j.bar.Stop(reason)
	}
	return j.prog
}

// launchSummary is what the launcher says when the job ends.
type launchSummary struct {
	job     string
	err     error
	rep     launch.Report
	train   *launchedTrain // nil: not a train command
	prog    launch.JobProgress
	logDir  string
	stopped bool // the launcher stopped the workers (signal or cancel)
}

// outcome names how the job ended, for the progress line and the summary.
func (s launchSummary) outcome() string {
	var we *launch.WorkerError
	switch {
	case s.err == nil && s.train != nil && s.prog.Records > 0 && s.prog.Step < s.train.cfg.Steps:
		return "finished early" // fdsm ctl stop, or early stopping on validation
	case s.err == nil:
		return "finished"
	case s.stopped && s.rep.StoppedCleanly():
		return "interrupted"
	case s.stopped:
		return "stopped (not every worker stopped cleanly)"
	case errors.As(s.err, &we):
		return "failed"
	default:
		return "failed: " + s.err.Error()
	}
}

// write prints the summary: outcome, steps and loss, elapsed time, each
// worker's restarts and last status, and where the logs and run are.
func (s launchSummary) write(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "fdsm launch: job %s %s after %.1f s (%s)", s.job, s.outcome(),
		s.rep.Elapsed.Seconds(), progress.Clock(s.rep.Elapsed))
	if s.train != nil {
		b.WriteString(": " + s.stepsLine())
	}
	b.WriteString("\n  workers:")
	for i, wk := range s.rep.Workers {
		sep := ";"
		if i == 0 {
			sep = ""
		}
		rank := ""
		if wk.Rank >= 0 {
			rank = fmt.Sprintf(" (rank %d)", wk.Rank)
		}
		status := wk.Status
		if status == "" {
			status = "not ended"
		}
		fmt.Fprintf(&b, "%s %d%s %s, %s", sep, wk.LocalRank, rank, status, plural(wk.Restarts, "restart"))
	}
	fmt.Fprintf(&b, "\n  logs: %s", s.logDir)
	if s.train != nil {
		fmt.Fprintf(&b, "; run directory: %s", s.train.out)
		if s.stopped && s.rep.StoppedCleanly() {
			b.WriteString(" (continue: the same command with train --resume)")
		}
	}
	b.WriteString("\n")
	_, _ = io.WriteString(w, b.String())
}

func (s launchSummary) stepsLine() string {
	p, total := s.prog, s.train.cfg.Steps
	if p.Records == 0 {
		return fmt.Sprintf("no new step in %s (rank 0 writes it: on another node unless the run directory is shared)",
			s.train.metricsPath())
	}
	loss := "last loss"
	if s.err == nil && p.Step >= total {
		loss = "final loss"
	}
	line := fmt.Sprintf("step %d of %d, %s %.6g", p.Step, total, loss, p.Loss)
	if p.Rewinds > 0 {
		line += fmt.Sprintf(", resumed %dx from a checkpoint", p.Rewinds)
	}
	return line
}

// plural writes n and noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
