package progress

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Unix(1_000_000, 0)} }
func lastLine(s string) string {
	i := strings.LastIndex(s, "\r")
	return strings.TrimRight(s[i+1:], " \n")
}
func drawn(w *bytes.Buffer, c *clock) *Bar {
	return New(w, 1500, Options{Label: "train", Unit: "step", Draw: true, Now: c.now})
}

func TestFinishShowsOnlyWhatWasDone(t *testing.T) {
	var w bytes.Buffer
	c := newClock()
	b := drawn(&w, c)
	for i := 1; i <= 1499; i++ {
		c.advance(time.Second / 3) // 3 steps a second
		b.Set(i, "loss 0.5")
	}
	b.Finish()
	got := lastLine(w.String())
	if !strings.Contains(got, " 99% 1499/1500 step") {
		t.Fatalf("final line %q: want 99%% 1499/1500 (Finish must not claim the last step)", got)
	}
	if !strings.Contains(got, "3.0 step/s") {
		t.Fatalf("final line %q: want the measured rate 3.0 step/s", got)
	}
	if !strings.HasSuffix(w.String(), "\n") {
		t.Fatal("Finish must end the line")
	}
}

func TestLastStepAlwaysDrawn(t *testing.T) {
	var w bytes.Buffer
	c := newClock()
	b := drawn(&w, c)
	b.Set(1499, "")
	c.advance(time.Millisecond) // inside the redraw throttle
	b.Set(1500, "step 1500/1500")
	if got := lastLine(w.String()); !strings.Contains(got, "100% 1500/1500") {
		t.Fatalf("line %q: the last unit must be drawn at once", got)
	}
}

func TestStopNamesTheReasonAndNeverCompletes(t *testing.T) {
	var w bytes.Buffer
	c := newClock()
	b := drawn(&w, c)
	c.advance(time.Second)
	b.Set(10, "loss 1")
	b.Stop("failed")
	got := lastLine(w.String())
	if !strings.Contains(got, "10/1500") || !strings.Contains(got, "(failed)") || strings.Contains(got, "100%") {
		t.Fatalf("stopped line %q: want 10/1500 and (failed), never 100%%", got)
	}
	b.Set(1500, "") // after the end: ignored
	if lastLine(w.String()) != got {
		t.Fatal("Set after Stop redrew the line")
	}
}

func TestStopBeforeAnyWorkDrawsNoRate(t *testing.T) {
	var w bytes.Buffer
	c := newClock()
	b := drawn(&w, c)
	b.Stop("failed")
	got := lastLine(w.String())
	if strings.Contains(got, "/s") || !strings.Contains(got, "0/1500") {
		t.Fatalf("line %q: a bar stopped before any work shows 0 done and no rate", got)
	}
}

func TestResumedRateCountsOnlyThisProcess(t *testing.T) {
	var w bytes.Buffer
	c := newClock()
	b := drawn(&w, c)
	b.Start(1000)
	c.advance(10 * time.Second)
	b.Set(1020, "")
	s := b.Status()
	if s.Rate != 2 {
		t.Fatalf("rate %v, want 2 step/s (20 steps in 10 s; the 1000 resumed steps are not work)", s.Rate)
	}
	if s.ETA != 240*time.Second {
		t.Fatalf("ETA %v, want 4m0s (480 steps at 2/s)", s.ETA)
	}
	if got := lastLine(w.String()); !strings.Contains(got, "1020/1500") || !strings.Contains(got, "ETA 4:00") {
		t.Fatalf("line %q", got)
	}
}

func TestEveryRedrawErasesTheLine(t *testing.T) {
	var w bytes.Buffer
	c := newClock()
	b := drawn(&w, c)
	b.Set(1, strings.Repeat("x", 40))
	c.advance(time.Second)
	b.Set(2, "")
	if n := strings.Count(w.String(), eraseLine); n != 2 {
		t.Fatalf("%d line erasures in %q, want one per redraw (a shorter line must not leave stale characters)", n, w.String())
	}
}

func TestNotATerminalLogsInstead(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := newClock()
	var logs []Status
	b := New(f, 100, Options{Draw: true, Now: c.now, LogEvery: 10 * time.Second, Log: func(s Status) { logs = append(logs, s) }})
	if b.Drawing() {
		t.Fatal("a bar on a regular file must not draw")
	}
	for i := 1; i <= 100; i++ {
		c.advance(time.Second)
		b.Set(i, "")
	}
	b.Finish()
	if st, _ := f.Stat(); st.Size() != 0 {
		t.Fatalf("wrote %d bytes to a non-terminal", st.Size())
	}
	// The first Set opens the interval; then one log per 10 s, and one at Finish.
	if len(logs) != 10 || logs[len(logs)-1].Done != 100 {
		t.Fatalf("got %d logs (last %+v), want 10 ending at 100", len(logs), logs[len(logs)-1])
	}
	if logs[0].Done != 11 || logs[0].ETA != 89*time.Second {
		t.Fatalf("first log %+v: want 11 done, ETA 89s", logs[0])
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		s    Status
		want string
	}{
		{Status{Done: 915, Total: 1500, Rate: 2.9, Elapsed: 315 * time.Second, ETA: 201 * time.Second, Note: "loss 0.12"},
			"train [==============>         ]  61% 915/1500 step  2.9 step/s  elapsed 5:15  ETA 3:21  loss 0.12"},
		{Status{Done: 7, Total: 0, Rate: 0.25, Elapsed: 28 * time.Second, ETA: -1},
			"train 7 step  4.0 s/step  elapsed 0:28"},
		{Status{Done: 1500, Total: 1500, Rate: 250, Elapsed: 2 * time.Hour, ETA: 0},
			"train [========================] 100% 1500/1500 step  250 step/s  elapsed 2:00:00"},
	} {
		if got := Format("train", "step", 24, tc.s); got != tc.want {
			t.Errorf("Format(%+v)\n got %q\nwant %q", tc.s, got, tc.want)
		}
	}
}

// TestTerminalKeepsLogsOffTheLine: a log line written while a bar is drawn
// erases the bar, appears on its own line, and the bar is drawn again after
// it; after Finish, writes pass straight through.
func TestTerminalKeepsLogsOffTheLine(t *testing.T) {
	var w bytes.Buffer
	term := NewTerminal(&w)
	c := newClock()
	b := New(term, 10, Options{Label: "train", Unit: "step", Draw: true, Now: c.now})
	c.advance(time.Second)
	b.Set(1, "")
	w.Reset()
	fmt.Fprintln(term, "a warning")
	got := w.String()
	if !strings.HasPrefix(got, eraseLine+"a warning\n") || !strings.HasSuffix(got, "1/10 step  1.0 step/s  elapsed 0:01  ETA 0:09") {
		t.Fatalf("log over a drawn bar wrote %q", got)
	}
	b.Finish()
	w.Reset()
	fmt.Fprintln(term, "after")
	if w.String() != "after\n" {
		t.Fatalf("write after Finish: %q", w.String())
	}
}
