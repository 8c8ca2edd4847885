package launch

import "time"

// ExitInterrupted is the status of an fdsm command stopped by SIGINT or
// SIGTERM after it saved its work (128 + SIGINT, as shells report it).
const ExitInterrupted = 130

// ExitUsage is the status of an fdsm command that refused its input: bad
// flags or config, a run directory it may not use (one holding a run
// without --resume, checkpoints --resume cannot load). The same command
// would fail the same way, so the launcher does not restart it.
const ExitUsage = 2

// Report is what one run of a plan did, for the launcher's summary.
type Report struct {
	Elapsed time.Duration
	Workers []WorkerReport // by local rank
}

// WorkerReport is one worker slot's history.
type WorkerReport struct {
	LocalRank int
	Rank      int // -1 when elastic
	LogFile   string
	Restarts  int    // restarts done
	Status    string // how its last incarnation ended ("exit status 0"); "" if none ended
	ExitCode  int    // of its last incarnation; -1 when killed by a signal or none ended
}

// StoppedCleanly reports whether every worker's last incarnation ended on
// its own terms: exit 0, or ExitInterrupted (it saved its work when told to
// stop). A worker killed after the grace period, or failed, did not.
func (r Report) StoppedCleanly() bool {
	for _, w := range r.Workers {
		if w.Status == "" || (w.ExitCode != 0 && w.ExitCode != ExitInterrupted) {
			return false
		}
	}
	return true
}

// report builds the Report of slots at the end of a run.
func (p *Plan) report(slots []slotState, start time.Time) Report {
	r := Report{Elapsed: time.Since(start)}
	for i, s := range slots {
		w := p.Workers[i]
		r.Workers = append(r.Workers, WorkerReport{LocalRank: i, Rank: w.Rank, LogFile: w.LogFile,
			Restarts: s.restarts, Status: s.status, ExitCode: s.code})
	}
	return r
}
