package bus

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

// fakeClock is a settable clock for WatchTable.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

var watchT0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// feedWatch fills a table with four ranks over steps 1..5:
//
//	rank 0: step ms 10 12 11 13 30, first to arrive
//	rank 1: step ms 9 x5, arrives 2 ms late
//	rank 2: step ms 11 x5, arrives 40 ms late (the straggler)
//	rank 3: steps 2..5 only, step ms 20 21 22 100, arrives 5 ms late
func feedWatch(t *WatchTable) {
	steps := map[int][]float64{0: {10, 12, 11, 13, 30}, 1: {9, 9, 9, 9, 9}, 2: {11, 11, 11, 11, 11}, 3: {0, 20, 21, 22, 100}}
	lagMs := map[int]int64{0: 0, 1: 2, 2: 40, 3: 5}
	for s := 1; s <= 5; s++ {
		base := watchT0.Add(time.Duration(s) * time.Second).UnixNano()
		for r := 0; r < 4; r++ {
			if r == 3 && s == 1 {
				continue
			}
			t.AddMetrics(StepMetrics{Job: "demo", Rank: r, World: 4, Generation: 1, Step: s,
				StepMs: steps[r][s-1], DataWaitMs: float64(r), ComputeMs: 5, CollectiveWaitMs: float64(10 - r),
				ArrivalUnixNano: base + lagMs[r]*1e6, Loss: 0.5, SamplesPerSec: 100})
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestWatchMedian(t *testing.T) {
	cases := []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{100, 20, 22, 21}, 21.5}}
	for _, c := range cases {
		in := append([]float64(nil), c.xs...)
		if got := watchMedian(in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.xs, got, c.want)
		}
		for i := range in {
			if in[i] != c.xs[i] {
				t.Fatalf("median reordered its input")
			}
		}
	}
}

func TestWatchTableStats(t *testing.T) {
	clk := &fakeClock{now: watchT0}
	tab := NewWatchTable("demo", WatchOptions{Slowest: 2, Clock: clk.Now})
	feedWatch(tab)
	s := tab.Snapshot()

	if len(s.Rows) != 4 {
		t.Fatalf("%d rows", len(s.Rows))
	}
	r0 := s.Rows[0]
	if r0.Rank != 0 || r0.Step != 5 || r0.Steps != 5 || r0.StepMsLast != 30 || r0.StepMsMin != 10 ||
		r0.StepMsMax != 30 || r0.StepMsMedian != 12 || !r0.HasArrival || r0.ArrivalLagMs != 0 {
		t.Errorf("rank 0 = %+v", r0)
	}
	r3 := s.Rows[3]
	if r3.Steps != 4 || r3.StepMsMedian != 21.5 || !near(r3.ArrivalLagMs, 5) || r3.DataWaitMs != 3 || r3.CollectiveWaitMs != 7 {
		t.Errorf("rank 3 = %+v", r3)
	}
	if !near(s.Rows[2].ArrivalLagMs, 40) || !near(s.Rows[1].ArrivalLagMs, 2) {
		t.Errorf("lags %v %v", s.Rows[1].ArrivalLagMs, s.Rows[2].ArrivalLagMs)
	}
	if got := s.Slowest; len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Errorf("slowest = %v, want [2 3]", got)
	}
	for _, r := range s.Rows {
		if r.Slow != (r.Rank == 2 || r.Rank == 3) {
			t.Errorf("rank %d slow = %v", r.Rank, r.Slow)
		}
	}
	sum := s.Summary
	if sum.World != 4 || sum.Generation != 1 || sum.Reporting != 4 || sum.MinStep != 5 || sum.MaxStep != 5 ||
		sum.StepMsMin != 9 || sum.StepMsMax != 21.5 || sum.StepMsMedian != 11.5 || sum.SamplesPerSec != 400 {
		t.Errorf("summary = %+v", sum)
	}

	// A smaller window keeps only the last steps.
	small := NewWatchTable("demo", WatchOptions{Window: 3, Clock: clk.Now})
	feedWatch(small)
	if r := small.Snapshot().Rows[0]; r.Steps != 3 || r.StepMsMedian != 13 || r.StepMsMin != 11 {
		t.Errorf("window 3: rank 0 = %+v", r)
	}

	// Silence marks a rank stale and drops it from the throughput.
	clk.now = clk.now.Add(31 * time.Second)
	tab.AddMetrics(StepMetrics{Rank: 1, World: 4, Generation: 1, Step: 6, StepMs: 9, SamplesPerSec: 100})
	s = tab.Snapshot()
	if !s.Rows[0].Stale || s.Rows[1].Stale || s.Summary.SamplesPerSec != 100 {
		t.Errorf("stale: rows %+v, throughput %v", s.Rows, s.Summary.SamplesPerSec)
	}
}

func TestWatchTableGenerations(t *testing.T) {
	tab := NewWatchTable("demo", WatchOptions{})
	feedWatch(tab)
	tab.AddMetrics(StepMetrics{Rank: 0, World: 3, Generation: 2, Step: 6, StepMs: 8})
	tab.AddMetrics(StepMetrics{Rank: 3, World: 4, Generation: 1, Step: 6, StepMs: 8}) // late, old group
	s := tab.Snapshot()
	if len(s.Rows) != 1 || s.Summary.Generation != 2 || s.Summary.World != 3 {
		t.Errorf("after regroup: %+v", s)
	}
	if len(s.Slowest) != 0 {
		t.Errorf("one rank cannot be slowest: %v", s.Slowest)
	}
}

func TestWatchTableTiesAreNotSlow(t *testing.T) {
	tab := NewWatchTable("j", WatchOptions{})
	for r := 0; r < 4; r++ {
		tab.AddMetrics(StepMetrics{Rank: r, World: 4, Step: 1, StepMs: 10})
	}
	if s := tab.Snapshot(); len(s.Slowest) != 0 {
		t.Errorf("equal ranks marked slow: %v", s.Slowest)
	}
	tab.AddMetrics(StepMetrics{Rank: 2, World: 4, Step: 2, StepMs: 30})
	if s := tab.Snapshot(); len(s.Slowest) != 1 || s.Slowest[0] != 2 {
		t.Errorf("slowest = %v, want [2]", s.Slowest)
	}
}

func TestWatchRender(t *testing.T) {
	clk := &fakeClock{now: watchT0}
	tab := NewWatchTable("demo", WatchOptions{ShowEvents: true, Clock: clk.Now})
	var empty bytes.Buffer
	if err := tab.Render(&empty, 0); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(empty.String(), "no step metrics yet") {
		t.Errorf("empty table:\n%s", empty.String())
	}

	feedWatch(tab)
	tab.AddEvent(Event{Kind: EventRegroup, Rank: 0, Generation: 1, World: 4, Reason: "rank 3 joined", Time: watchT0})
	var out bytes.Buffer
	if err := tab.Render(&out, 0); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"job demo", "generation 1", "world 4", "reporting 4", "step 5",
		"min 9.00 ms", "median 11.50 ms", "max 21.50 ms", "throughput 400.0 samples/s",
		"slowest: rank 2 (arrives +40.00 ms", "RANK", "MED ms", "LAG ms", "COLL ms", "DATA ms",
		"regroup rank 0 generation 1 world 4: rank 3 joined"} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	var slowLines int
	for _, l := range strings.Split(text, "\n") {
		if strings.HasSuffix(l, "SLOW") {
			slowLines++
		}
	}
	if slowLines != 3 {
		t.Errorf("%d SLOW rows, want 3:\n%s", slowLines, text)
	}

	// Control characters from a command's sender cannot reach the terminal.
	tab.AddEvent(Event{Kind: EventCommandRefused, Detail: map[string]string{"from": "evil\x1b[2J\u009b"}})
	out.Reset()
	if err := tab.Render(&out, 0); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(out.String(), "\x1b\u009b") || !strings.Contains(out.String(), "from=evil?[2J?") {
		t.Errorf("control characters rendered:\n%q", out.String())
	}

	// A narrow terminal drops the least important columns first.
	out.Reset()
	if err := tab.Render(&out, 72); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(out.String(), "\n") {
		if len([]rune(l)) > 72 {
			t.Errorf("line longer than 72: %q", l)
		}
	}
	narrow := out.String()
	for _, want := range []string{"RANK", "MED ms", "LAG ms"} {
		if !strings.Contains(narrow, want) {
			t.Errorf("narrow table lost %q:\n%s", want, narrow)
		}
	}
	if strings.Contains(narrow, "LOSS") {
		t.Errorf("narrow table kept LOSS:\n%s", narrow)
	}

	// Row limit: the slowest first.
	limited := NewWatchTable("demo", WatchOptions{MaxRows: 2, Clock: clk.Now})
	feedWatch(limited)
	out.Reset()
	if err := limited.Render(&out, 0); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "2 faster ranks not shown") {
		t.Errorf("row limit:\n%s", out.String())
	}
}
