package study

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/cluster"
)

// TestControlStudy runs the four phases for 3 and 5 members with the fast
// timing: every phase ends (the study checks each member's view and group),
// each takes some time, and the table and plot come out.
func TestControlStudy(t *testing.T) {
	var phases []string
	rows, err := Control(context.Background(), ControlOptions{Members: []int{3, 5}, Timing: cluster.FastTiming(),
		Progress: func(n int, p string) { phases = append(phases, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Members != 3 || rows[1].Members != 5 {
		t.Fatalf("rows %+v", rows)
	}
	for _, r := range rows {
		if r.FormS <= 0 || r.RendezvousS <= 0 || r.DetectS <= 0 || r.RegroupS <= 0 {
			t.Errorf("%d members: a phase took no time: %+v", r.Members, r)
		}
		if r.Generation < 1 || r.RegroupGeneration <= r.Generation {
			t.Errorf("%d members: generations %d then %d", r.Members, r.Generation, r.RegroupGeneration)
		}
	}
	if got := strings.Join(phases, " "); got != "form rendezvous detect regroup form rendezvous detect regroup" {
		t.Errorf("phases %q", got)
	}
	res := ControlResult{Timing: "fast", Rows: rows}
	if s := res.String(); !strings.Contains(s, "regroup s") || !strings.Contains(s, "\n       5 ") {
		t.Errorf("table:\n%s", s)
	}
	png := filepath.Join(t.TempDir(), "control.png")
	if err := ControlPlot(res, png); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(png); err != nil || st.Size() < 1000 {
		t.Errorf("plot: %v", err)
	}
	if _, err := Control(context.Background(), ControlOptions{Members: []int{1}}); err == nil || !strings.Contains(err.Error(), "at least 2") {
		t.Errorf("one member: %v", err)
	}
}

// TestControlDilation: a dilated study runs its members with every interval
// and its timeout k times longer, reports the measured times divided by k,
// and refuses a negative or non-finite dilation.
func TestControlDilation(t *testing.T) {
	o, err := ControlOptions{Timing: cluster.FastTiming(), Dilation: 3}.dilated()
	if err != nil {
		t.Fatal(err)
	}
	if want := cluster.FastTiming().Dilated(3); o.Timing != want || o.Timeout != 6*time.Minute {
		t.Errorf("dilated options: timing %+v timeout %v, want %+v and 6m", o.Timing, o.Timeout, want)
	}
	if o, _ := (ControlOptions{Timing: cluster.FastTiming()}).dilated(); o.Timing != cluster.FastTiming() || o.Dilation != 1 {
		t.Errorf("no dilation changed the options: %+v", o)
	}
	r := ControlRow{Members: 4, FormS: 3, RendezvousS: 6, DetectS: 9, RegroupS: 12, Generation: 1, RegroupGeneration: 2}
	if got := r.undilated(3); got != (ControlRow{Members: 4, FormS: 1, RendezvousS: 2, DetectS: 3, RegroupS: 4, Generation: 1, RegroupGeneration: 2}) {
		t.Errorf("undilated: %+v", got)
	}
	for _, k := range []float64{-1, math.NaN(), math.Inf(1)} {
		if _, err := Control(context.Background(), ControlOptions{Members: []int{2}, Dilation: k}); err == nil || !strings.Contains(err.Error(), "dilation") {
			t.Errorf("dilation %v: %v", k, err)
		}
	}
	rows, err := Control(context.Background(), ControlOptions{Members: []int{3}, Timing: cluster.FastTiming(), Dilation: 2})
	if err != nil || len(rows) != 1 || rows[0].DetectS <= 0 || rows[0].RegroupGeneration <= rows[0].Generation {
		t.Fatalf("dilated run: %+v, %v", rows, err)
	}
	res := ControlResult{Timing: "fast", Dilation: 2, Rows: rows}
	if s := res.String(); !strings.Contains(s, "fast timing dilated 2x") || !strings.Contains(s, "measured seconds / 2") {
		t.Errorf("table:\n%s", s)
	}
}
