package study

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
