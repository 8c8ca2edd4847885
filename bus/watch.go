package bus

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// WatchOptions tunes a WatchTable. Zero values take the defaults.
type WatchOptions struct {
	Window     int           // steps per rank kept for min/median/max (default 50)
	Slowest    int           // ranks marked slow (default 3)
	MaxEvents  int           // recent events kept (default 8)
	MaxRows    int           // rows rendered, slowest first when exceeded; 0 = all
	ShowEvents bool          // render the recent events
	StaleAfter time.Duration // a rank silent this long is marked stale (default 30 s)
	// Clock returns the current time (default time.Now); tests fix it.
	Clock func() time.Time
}

func (o WatchOptions) withDefaults() WatchOptions {
	if o.Window <= 0 {
		o.Window = 50
	}
	if o.Slowest <= 0 {
		o.Slowest = 3
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = 8
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = 30 * time.Second
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o
}

// WatchTable collects a job's step metrics and events and summarises them
// per rank, to find stragglers: who is slow, and whether it waits for data,
// computes, or waits in collectives. It keeps the current generation only;
// metrics of a newer generation (after a regroup, ranks are renumbered)
// reset it, and older ones are ignored.
//
// Threading: safe for concurrent use; bus handlers feed it while a renderer
// reads it.
type WatchTable struct {
	job  string
	opts WatchOptions

	mu         sync.Mutex
	generation uint64
	world      int
	ranks      map[int]*rankHistory
	events     []Event // oldest first, at most MaxEvents
}

// rankHistory holds a rank's last Window samples, oldest first.
type rankHistory struct {
	samples  []StepMetrics
	received time.Time // local time the last sample arrived
}

// NewWatchTable returns an empty table for job.
func NewWatchTable(job string, opts WatchOptions) *WatchTable {
	return &WatchTable{job: job, opts: opts.withDefaults(), ranks: map[int]*rankHistory{}}
}

// AddMetrics records one rank's step metrics.
func (t *WatchTable) AddMetrics(m StepMetrics) {
	now := t.opts.Clock()
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case m.Generation > t.generation:
		t.generation = m.Generation
		t.ranks = map[int]*rankHistory{}
	case m.Generation < t.generation:
		return
	}
	if m.World > 0 {
		t.world = m.World
	}
	h := t.ranks[m.Rank]
	if h == nil {
		h = &rankHistory{}
		t.ranks[m.Rank] = h
	}
	// A step reported again (a restart from a checkpoint replays steps)
	// replaces nothing: history is by arrival, which is what watch shows.
	if len(h.samples) == t.opts.Window {
		h.samples = append(h.samples[:0], h.samples[1:]...)
	}
	h.samples = append(h.samples, m)
	h.received = now
}

// AddEvent records an event.
func (t *WatchTable) AddEvent(e Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.events) == t.opts.MaxEvents {
		t.events = append(t.events[:0], t.events[1:]...)
	}
	t.events = append(t.events, e)
}

// RankRow is one rank's line of the table. Times are milliseconds; the
// medians are over the rank's last Window steps.
type RankRow struct {
	Rank  int
	Step  int // last step reported
	Steps int // samples in the window

	StepMsLast, StepMsMin, StepMsMedian, StepMsMax float64
	DataWaitMs, ComputeMs, CollectiveWaitMs        float64 // medians
	// ArrivalLagMs is the median, over the window's steps, of how long
	// after the earliest rank this rank entered the step's first
	// collective. HasArrival is false when the rank reports no arrivals.
	ArrivalLagMs float64
	HasArrival   bool

	Loss          float64
	SamplesPerSec float64
	Age           time.Duration // since the last sample arrived
	Stale         bool
	Slow          bool // among the slowest ranks
}

// WatchSummary describes the whole group.
type WatchSummary struct {
	Job        string
	Generation uint64
	World      int // as the ranks report it
	Reporting  int // ranks with samples
	MinStep    int
	MaxStep    int
	// Step time over ranks: min, median and max of the ranks' median step
	// times.
	StepMsMin, StepMsMedian, StepMsMax float64
	SamplesPerSec                      float64 // sum over ranks of their last throughput
	Window                             int
}

// WatchSnapshot is the table at one moment.
type WatchSnapshot struct {
	Summary WatchSummary
	Rows    []RankRow // by rank
	Slowest []int     // slowest ranks, slowest first
	Events  []Event   // recent events, oldest first
	Time    time.Time
}

// Snapshot computes the table now.
func (t *WatchTable) Snapshot() WatchSnapshot {
	now := t.opts.Clock()
	t.mu.Lock()
	defer t.mu.Unlock()

	s := WatchSnapshot{
		Summary: WatchSummary{Job: t.job, Generation: t.generation, World: t.world,
			Reporting: len(t.ranks), Window: t.opts.Window},
		Events: slices.Clone(t.events),
		Time:   now,
	}

	// Earliest arrival per step over all ranks.
	first := map[int]int64{}
	for _, h := range t.ranks {
		for _, m := range h.samples {
			if m.ArrivalUnixNano == 0 {
				continue
			}
			if a, ok := first[m.Step]; !ok || m.ArrivalUnixNano < a {
				first[m.Step] = m.ArrivalUnixNano
			}
		}
	}

	for rank, h := range t.ranks {
		n := len(h.samples)
		last := h.samples[n-1]
		r := RankRow{Rank: rank, Step: last.Step, Steps: n, StepMsLast: last.StepMs,
			Loss: last.Loss, SamplesPerSec: last.SamplesPerSec, Age: now.Sub(h.received)}
		r.Stale = r.Age > t.opts.StaleAfter
		var step, data, comp, coll, lag []float64
		for _, m := range h.samples {
			step = append(step, m.StepMs)
			data = append(data, m.DataWaitMs)
			comp = append(comp, m.ComputeMs)
			coll = append(coll, m.CollectiveWaitMs)
			if m.ArrivalUnixNano != 0 {
				lag = append(lag, float64(m.ArrivalUnixNano-first[m.Step])/1e6)
			}
		}
		r.StepMsMin, r.StepMsMax = slices.Min(step), slices.Max(step)
		r.StepMsMedian = watchMedian(step)
		r.DataWaitMs, r.ComputeMs, r.CollectiveWaitMs = watchMedian(data), watchMedian(comp), watchMedian(coll)
		if len(lag) > 0 {
			r.ArrivalLagMs, r.HasArrival = watchMedian(lag), true
		}
		s.Rows = append(s.Rows, r)
	}
	slices.SortFunc(s.Rows, func(a, b RankRow) int { return cmp.Compare(a.Rank, b.Rank) })

	if len(s.Rows) > 0 {
		meds := make([]float64, len(s.Rows))
		s.Summary.MinStep, s.Summary.MaxStep = s.Rows[0].Step, s.Rows[0].Step
		for i, r := range s.Rows {
			meds[i] = r.StepMsMedian
			s.Summary.MinStep = min(s.Summary.MinStep, r.Step)
			s.Summary.MaxStep = max(s.Summary.MaxStep, r.Step)
			if !r.Stale {
				s.Summary.SamplesPerSec += r.SamplesPerSec
			}
		}
		s.Summary.StepMsMin, s.Summary.StepMsMax = slices.Min(meds), slices.Max(meds)
		s.Summary.StepMsMedian = watchMedian(meds)
	}
	s.Slowest = watchSlowestRanks(s.Rows, t.opts.Slowest)
	for _, rank := range s.Slowest {
		i, _ := slices.BinarySearchFunc(s.Rows, rank, func(r RankRow, k int) int { return cmp.Compare(r.Rank, k) })
		s.Rows[i].Slow = true
	}
	return s
}

// watchSlowerThan orders rows slowest first: by arrival lag (the rank the others
// wait for arrives last), then by median step time, then by rank.
func watchSlowerThan(a, b RankRow) int {
	if c := cmp.Compare(b.ArrivalLagMs, a.ArrivalLagMs); c != 0 {
		return c
	}
	if c := cmp.Compare(b.StepMsMedian, a.StepMsMedian); c != 0 {
		return c
	}
	return cmp.Compare(a.Rank, b.Rank)
}

// watchSlowestRanks returns up to k ranks, slowest first, that are strictly
// slower than the fastest rank; none with fewer than two ranks.
func watchSlowestRanks(rows []RankRow, k int) []int {
	if len(rows) < 2 {
		return nil
	}
	sorted := slices.Clone(rows)
	slices.SortFunc(sorted, watchSlowerThan)
	fastest := sorted[len(sorted)-1]
	var out []int
	for _, r := range sorted {
		if len(out) == k || len(out) == len(rows)-1 {
			break
		}
		if r.ArrivalLagMs == fastest.ArrivalLagMs && r.StepMsMedian == fastest.StepMsMedian {
			break // ties with the fastest are not slow
		}
		out = append(out, r.Rank)
	}
	return out
}

// watchMedian returns the median of xs (mean of the middle two for an even
// count), or 0 for none. It does not modify xs.
func watchMedian(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
