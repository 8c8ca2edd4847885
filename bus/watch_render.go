package bus

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// watchColumn is one column of the per-rank table. Columns with a higher
// drop priority go first when the table is wider than the terminal.
type watchColumn struct {
	head  string
	width int
	drop  int // 0: never dropped
	cell  func(r RankRow) string
}

var watchColumns = []watchColumn{
	{"RANK", 5, 0, func(r RankRow) string { return fmt.Sprint(r.Rank) }},
	{"STEP", 8, 0, func(r RankRow) string { return fmt.Sprint(r.Step) }},
	{"LAST ms", 9, 3, func(r RankRow) string { return watchFmtMs(r.StepMsLast) }},
	{"MIN ms", 9, 4, func(r RankRow) string { return watchFmtMs(r.StepMsMin) }},
	{"MED ms", 9, 0, func(r RankRow) string { return watchFmtMs(r.StepMsMedian) }},
	{"MAX ms", 9, 2, func(r RankRow) string { return watchFmtMs(r.StepMsMax) }},
	{"DATA ms", 9, 1, func(r RankRow) string { return watchFmtMs(r.DataWaitMs) }},
	{"COMP ms", 9, 3, func(r RankRow) string { return watchFmtMs(r.ComputeMs) }},
	{"COLL ms", 9, 1, func(r RankRow) string { return watchFmtMs(r.CollectiveWaitMs) }},
	{"LAG ms", 9, 0, func(r RankRow) string {
		if !r.HasArrival {
			return "-"
		}
		return watchFmtMs(r.ArrivalLagMs)
	}},
	{"SAMPLES/s", 11, 5, func(r RankRow) string {
		if r.SamplesPerSec == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f", r.SamplesPerSec)
	}},
	{"LOSS", 11, 5, func(r RankRow) string { return fmt.Sprintf("%.4g", r.Loss) }},
}

func watchFmtMs(ms float64) string {
	switch {
	case ms >= 1000:
		return fmt.Sprintf("%.0f", ms)
	case ms >= 100:
		return fmt.Sprintf("%.1f", ms)
	}
	return fmt.Sprintf("%.2f", ms)
}

// Render writes the table as plain text, lines at most width runes (no
// limit when width <= 0): a summary of the group, the slowest ranks, one row
// per rank (medians over the window; LAG is how late the rank enters the
// step's first collective after the earliest one), and recent events when
// ShowEvents is set.
func (t *WatchTable) Render(w io.Writer, width int) error {
	return RenderWatch(w, t.Snapshot(), t.opts, width)
}

// RenderWatch writes a snapshot as Render does.
func RenderWatch(w io.Writer, s WatchSnapshot, opts WatchOptions, width int) error {
	opts = opts.withDefaults()
	page := &watchPage{width: width}
	sum := s.Summary
	page.text("job %s  generation %d  world %d  reporting %d  step %s  at %s",
		sum.Job, sum.Generation, sum.World, sum.Reporting, watchStepRange(sum), s.Time.Format("15:04:05"))
	if len(s.Rows) == 0 {
		page.line("no step metrics yet")
	} else {
		page.summary(s)
		page.line("")
		page.rows(s.Rows, watchFitColumns(width), opts.MaxRows)
	}
	if opts.ShowEvents {
		page.events(s.Events)
	}
	_, err := io.WriteString(w, page.b.String())
	return err
}

// watchPage is the text RenderWatch writes, lines at most width runes (no
// limit when width <= 0).
type watchPage struct {
	b     strings.Builder
	width int
}

// line writes a table line, cut at width; text wraps instead.
func (p *watchPage) line(format string, a ...any) {
	l := []rune(watchPrintable(fmt.Sprintf(format, a...)))
	if p.width > 0 && len(l) > p.width {
		l = l[:p.width]
	}
	p.b.WriteString(string(l))
	p.b.WriteByte('\n')
}

func (p *watchPage) text(format string, a ...any) {
	for _, l := range watchWrap(watchPrintable(fmt.Sprintf(format, a...)), p.width) {
		p.b.WriteString(l)
		p.b.WriteByte('\n')
	}
}

// summary writes the group's step times and its slowest ranks.
func (p *watchPage) summary(s WatchSnapshot) {
	sum := s.Summary
	thr := ""
	if sum.SamplesPerSec > 0 {
		thr = fmt.Sprintf("  throughput %.1f samples/s", sum.SamplesPerSec)
	}
	p.text("step time over ranks (median of last %d steps): min %s ms  median %s ms  max %s ms%s",
		sum.Window, watchFmtMs(sum.StepMsMin), watchFmtMs(sum.StepMsMedian), watchFmtMs(sum.StepMsMax), thr)
	if len(s.Slowest) > 0 {
		p.text("slowest: %s", strings.Join(watchSlowestParts(s), ", "))
	}
}

// watchSlowestParts describes each of the slowest ranks.
func watchSlowestParts(s WatchSnapshot) []string {
	parts := make([]string, len(s.Slowest))
	for i, rank := range s.Slowest {
		r := s.Rows[slices.IndexFunc(s.Rows, func(r RankRow) bool { return r.Rank == rank })]
		if r.HasArrival {
			parts[i] = fmt.Sprintf("rank %d (arrives +%s ms, step %s ms)", r.Rank, watchFmtMs(r.ArrivalLagMs), watchFmtMs(r.StepMsMedian))
		} else {
			parts[i] = fmt.Sprintf("rank %d (step %s ms)", r.Rank, watchFmtMs(r.StepMsMedian))
		}
	}
	return parts
}

// rows writes the head and the rows of the per-rank table in columns cols:
// all of them, or the slowest maxRows when maxRows > 0.
func (p *watchPage) rows(rows []RankRow, cols []watchColumn, maxRows int) {
	var head strings.Builder
	for _, c := range cols {
		fmt.Fprintf(&head, "%*s", c.width, c.head)
	}
	head.WriteString("  FLAGS")
	p.line("%s", head.String())

	hidden := 0
	if maxRows > 0 && len(rows) > maxRows {
		rows = slices.Clone(rows)
		slices.SortFunc(rows, watchSlowerThan)
		hidden = len(rows) - maxRows
		rows = rows[:maxRows]
	}
	for _, r := range rows {
		var l strings.Builder
		for _, c := range cols {
			fmt.Fprintf(&l, "%*s", c.width, c.cell(r))
		}
		l.WriteString("  ")
		l.WriteString(watchRowFlags(r))
		p.line("%s", strings.TrimRight(l.String(), " "))
	}
	if hidden > 0 {
		p.line("... %d faster ranks not shown", hidden)
	}
}

// events writes the recent events after a blank line.
func (p *watchPage) events(events []Event) {
	p.line("")
	if len(events) == 0 {
		p.line("no events yet")
	}
	for _, e := range events {
		p.text("%s", FormatEvent(e))
	}
}

// watchPrintable replaces control characters, which a command's sender
// could put in an event to drive the operator's terminal, with '?'.
func watchPrintable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || (r >= 0x7f && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

// watchWrap breaks text into lines of at most width runes at spaces,
// indenting continuations; a word longer than a line is cut.
func watchWrap(text string, width int) []string {
	if width <= 0 || len([]rune(text)) <= width {
		return []string{text}
	}
	const indent = "    "
	var out []string
	cur := []rune(nil)
	for _, w := range strings.Fields(text) {
		word := []rune(w)
		switch {
		case len(cur) == 0:
			cur = word
		case len(cur)+1+len(word) <= width:
			cur = append(append(cur, ' '), word...)
		default:
			out = append(out, string(cur))
			cur = append([]rune(indent), word...)
		}
		for len(cur) > width {
			out = append(out, string(cur[:width]))
			cur = append([]rune(indent), cur[width:]...)
		}
	}
	return append(out, string(cur))
}

func watchStepRange(s WatchSummary) string {
	if s.Reporting == 0 {
		return "-"
	}
	if s.MinStep == s.MaxStep {
		return fmt.Sprint(s.MaxStep)
	}
	return fmt.Sprintf("%d..%d", s.MinStep, s.MaxStep)
}

func watchRowFlags(r RankRow) string {
	var f []string
	if r.Slow {
		f = append(f, "SLOW")
	}
	if r.Stale {
		f = append(f, fmt.Sprintf("silent %s", r.Age.Round(time.Second)))
	}
	return strings.Join(f, " ")
}

// watchFitColumns drops columns, least important first, until a row fits width.
func watchFitColumns(width int) []watchColumn {
	cols := slices.Clone(watchColumns)
	const flags = 2 + 12 // "  SLOW silent"
	rowWidth := func() int {
		n := flags
		for _, c := range cols {
			n += c.width
		}
		return n
	}
	for width > 0 && rowWidth() > width {
		worst := -1
		for i, c := range cols {
			if c.drop > 0 && (worst < 0 || c.drop > cols[worst].drop ||
				(c.drop == cols[worst].drop && i > worst)) {
				worst = i
			}
		}
		if worst < 0 {
			break
		}
		cols = slices.Delete(cols, worst, worst+1)
	}
	return cols
}

// FormatEvent writes an event as one line of text.
func FormatEvent(e Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", e.Time.Local().Format("15:04:05"), e.Kind)
	if e.Rank >= 0 {
		fmt.Fprintf(&b, " rank %d", e.Rank)
	}
	if e.Generation > 0 {
		fmt.Fprintf(&b, " generation %d", e.Generation)
	}
	if e.World > 0 {
		fmt.Fprintf(&b, " world %d", e.World)
	}
	if e.Step > 0 {
		fmt.Fprintf(&b, " step %d", e.Step)
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, ": %s", e.Reason)
	}
	if len(e.Detail) > 0 {
		keys := make([]string, 0, len(e.Detail))
		for k := range e.Detail {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%s", k, e.Detail[k])
		}
	}
	return b.String()
}
