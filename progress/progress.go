// Package progress draws the one-line progress display of long commands
// (training, sampling, evaluation, a launched job) on a terminal, and
// reports the same progress as occasional log lines when the output is not
// a terminal.
//
// A Bar shows what it was told and nothing else: its count, percentage,
// rate and ETA all derive from the last Set, so the line never claims work
// that was not done (a failed run stops the bar where it was; only Finish
// after the last unit draws 100%).
//
// Threading: a Bar may be used from several goroutines; calls are
// serialised.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
)

// Status is a snapshot of a Bar's progress.
type Status struct {
	Done, Total int           // units done and expected (Total <= 0: unknown)
	Rate        float64       // units per second done by this process (0 until measurable)
	Elapsed     time.Duration // since the first Set
	ETA         time.Duration // time left at Rate; -1 when unknown
	Note        string        // the caller's note of the last Set
}

// Options tune a Bar. Zero values take the defaults noted.
type Options struct {
	// Label starts the line (e.g. "train", "sample").
	Label string
	// Unit names one unit of work in the rate ("step", "sample"); default "it".
	Unit string
	// Draw enables the terminal line; it is turned off when the writer is a
	// file that is not a terminal (a log), where redraws are noise.
	Draw bool
	// Log, when set, receives a Status at most every LogEvery while the line
	// is not drawn, and once at Finish: progress for logs and CI.
	Log      func(Status)
	LogEvery time.Duration // default 30 s
	// Redraw limits redraws of the line; default 100 ms.
	Redraw time.Duration
	// Width is the width of the bar itself in characters; default 24.
	Width int
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Bar is one progress line over Total units.
type Bar struct {
	mu      sync.Mutex
	w       io.Writer
	o       Options
	total   int
	draw    bool
	started bool      // Start or Set was called
	start   time.Time // when the work began: New, or Start
	base    int       // units done before the work began (a resumed run)
	done    int
	note    string
	drawn   time.Time // last redraw
	logged  time.Time // last Log call
	ended   bool
	term    *Terminal // where a drawn line goes
}

// New returns a bar over total units (total <= 0: unknown) writing to w.
func New(w io.Writer, total int, o Options) *Bar {
	if o.Unit == "" {
		o.Unit = "it"
	}
	if o.LogEvery <= 0 {
		o.LogEvery = 30 * time.Second
	}
	if o.Redraw <= 0 {
		o.Redraw = 100 * time.Millisecond
	}
	if o.Width <= 0 {
		o.Width = 24
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	term, ok := w.(*Terminal)
	if !ok {
		term = NewTerminal(w)
	}
	draw := o.Draw && w != nil
	if f, ok := term.w.(interface{ Fd() uintptr }); ok && draw {
		draw = isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
	}
	return &Bar{w: w, o: o, total: total, draw: draw, start: o.Now(), term: term}
}

// Drawing reports whether the bar draws a terminal line.
func (b *Bar) Drawing() bool { return b.draw }

// Start restarts the clock now with done units already complete (a resumed
// run, or work after a slow set-up), so the rate and ETA count only the work
// measured from here. It must come before the first Set to take effect.
func (b *Bar) Start(done int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.started {
		b.started, b.start, b.base, b.done = true, b.o.Now(), done, done
	}
}

// SetTotal changes the number of units expected (a total learned once the
// work starts; <= 0: unknown).
func (b *Bar) SetTotal(total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total = total
}

// Set records that done units are complete, with a note shown after the
// numbers (e.g. "loss 0.12"), and redraws when due.
func (b *Bar) Set(done int, note string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return
	}
	now := b.o.Now()
	b.started = true
	b.done, b.note = done, note
	if b.draw {
		if now.Sub(b.drawn) >= b.o.Redraw || (b.total > 0 && done >= b.total) {
			b.render(now)
		}
		return
	}
	if b.o.Log != nil && now.Sub(b.logged) >= b.o.LogEvery {
		if b.logged.IsZero() {
			b.logged = now // the first interval starts with the work
			return
		}
		b.logged = now
		b.o.Log(b.status(now))
	}
}

// Finish draws the final state and ends the line. It claims nothing: the
// count shown is the last Set's.
func (b *Bar) Finish() { b.end("") }

// Stop ends the line where the bar stands, with a reason ("interrupted",
// "failed"), so a run that did not complete never shows as complete.
func (b *Bar) Stop(reason string) { b.end(reason) }

func (b *Bar) end(reason string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return
	}
	b.ended = true
	now := b.o.Now()
	if reason != "" {
		if b.note != "" {
			b.note += "  "
		}
		b.note += "(" + reason + ")"
	}
	if b.draw {
		b.render(now)
		b.term.release()
		return
	}
	if b.o.Log != nil && b.started {
		b.o.Log(b.status(now))
	}
}

// Status returns the current progress.
func (b *Bar) Status() Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status(b.o.Now())
}

func (b *Bar) status(now time.Time) Status {
	s := Status{Done: b.done, Total: b.total, Note: b.note, ETA: -1}
	s.Elapsed = now.Sub(b.start)
	if work := b.done - b.base; work > 0 && s.Elapsed > 0 {
		s.Rate = float64(work) / s.Elapsed.Seconds()
		if b.total > 0 {
			s.ETA = time.Duration(float64(max(b.total-b.done, 0)) / s.Rate * float64(time.Second))
		}
	}
	return s
}

func (b *Bar) render(now time.Time) {
	b.drawn = now
	b.term.draw(Format(b.o.Label, b.o.Unit, b.o.Width, b.status(now)))
}

// Format renders a status as one line:
//
//	label [=========>      ]  61% 915/1500 step  2.9 step/s  elapsed 5:15  ETA 3:21  loss 0.12
func Format(label, unit string, width int, s Status) string {
	var sb strings.Builder
	if label != "" {
		sb.WriteString(label + " ")
	}
	if s.Total > 0 {
		frac := min(max(float64(s.Done)/float64(s.Total), 0), 1)
		full := int(frac * float64(width))
		sb.WriteString("[" + strings.Repeat("=", full))
		if full < width {
			sb.WriteString(">" + strings.Repeat(" ", width-full-1))
		}
		fmt.Fprintf(&sb, "] %3d%% %d/%d %s", int(frac*100), s.Done, s.Total, unit)
	} else {
		fmt.Fprintf(&sb, "%d %s", s.Done, unit)
	}
	if s.Rate > 0 {
		fmt.Fprintf(&sb, "  %s", FormatRate(s.Rate, unit))
	}
	fmt.Fprintf(&sb, "  elapsed %s", Clock(s.Elapsed))
	if s.ETA >= 0 && s.Total > 0 && s.Done < s.Total {
		fmt.Fprintf(&sb, "  ETA %s", Clock(s.ETA))
	}
	if s.Note != "" {
		sb.WriteString("  " + s.Note)
	}
	return sb.String()
}

// FormatRate prints a rate as units per second, or seconds per unit when
// slower than one a second.
func FormatRate(rate float64, unit string) string {
	switch {
	case rate >= 100:
		return fmt.Sprintf("%.0f %s/s", rate, unit)
	case rate >= 1:
		return fmt.Sprintf("%.1f %s/s", rate, unit)
	default:
		return fmt.Sprintf("%.1f s/%s", 1/rate, unit)
	}
}

// Clock prints a duration as m:ss or h:mm:ss.
func Clock(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
