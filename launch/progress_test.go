package launch

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func readTail(t *testing.T, tail *MetricsTail) []int {
	t.Helper()
	recs, err := tail.Read()
	if err != nil {
		t.Fatal(err)
	}
	var steps []int
	for _, r := range recs {
		steps = append(steps, r.Step)
	}
	return steps
}

// TestMetricsTail: earlier runs' lines are skipped, a partial line waits
// for its newline, a partial line cut by a new writer is never seen, and a
// replaced file is read from its start.
func TestMetricsTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	tail, err := NewMetricsTail(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := readTail(t, tail); got != nil {
		t.Fatalf("missing file: %v", got)
	}
	// An earlier run left two lines and half a third.
	appendFile(t, path, `{"step":1,"loss":2}`+"\n"+`{"step":2,"loss":1}`+"\n"+`{"step":3,"lo`)
	if tail, err = NewMetricsTail(path); err != nil {
		t.Fatal(err)
	}
	// This job's writer cuts the partial line and appends.
	if err := os.Truncate(path, int64(len(`{"step":1,"loss":2}`+"\n"+`{"step":2,"loss":1}`+"\n"))); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, `{"step":3,"loss":0.5}`+"\n"+`{"step":4,"loss":"Na`)
	if got := readTail(t, tail); !reflect.DeepEqual(got, []int{3}) {
		t.Fatalf("after the cut: %v, want [3]", got)
	}
	// The writer dies mid-line; its successor cuts the line and rewinds.
	if err := os.Truncate(path, int64(len(`{"step":1,"loss":2}`+"\n"+`{"step":2,"loss":1}`+"\n"+`{"step":3,"loss":0.5}`+"\n"))); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, `{"step":2,"loss":"NaN"}`+"\n"+"not json\n"+`{"step":3,"loss":0.25}`+"\n")
	recs, err := tail.Read()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Step != 2 || !math.IsNaN(recs[0].Loss) || recs[1] != (StepRecord{3, 0.25}) {
		t.Fatalf("after the rewind: %+v", recs)
	}
	// A fresh run replaces the file.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, `{"step":1,"loss":9}`+"\n")
	if got := readTail(t, tail); !reflect.DeepEqual(got, []int{1}) {
		t.Fatalf("replaced file: %v, want [1]", got)
	}
	if got := readTail(t, tail); got != nil {
		t.Fatalf("nothing new: %v", got)
	}
}

func TestJobProgressCountsRewinds(t *testing.T) {
	var p JobProgress
	for _, s := range []int{51, 52, 53, 51, 52, 53, 54, 54} {
		p.Add(StepRecord{Step: s, Loss: float64(s)})
	}
	want := JobProgress{Records: 8, First: 51, Step: 54, Loss: 54, Rewinds: 2}
	if p != want {
		t.Fatalf("%+v, want %+v", p, want)
	}
}
