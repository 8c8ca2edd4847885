package launch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strconv"
)

// StepRecord is what the launcher reads from one line of a run's
// metrics.jsonl (written by rank 0, one JSON object per optimizer step).
type StepRecord struct {
	Step int
	Loss float64 // NaN when the line had none or a non-finite one
}

// MetricsTail follows a metrics.jsonl that a job appends to, returning each
// complete line once. It starts after the lines the file already holds (an
// earlier run's), so a job launched into a used run directory is not
// credited with them.
//
// The file may be rewritten under it: a new writer (a restarted or
// regrouped rank 0) first cuts a partial last line left by a crash, and a
// fresh run may replace the file. A partial line is therefore never
// consumed, only re-read until its newline arrives, and a file shorter than
// what was consumed is read again from its start.
type MetricsTail struct {
	path string
	off  int64       // end of the last complete line consumed
	file os.FileInfo // the file off belongs to; nil before one was seen
}

// NewMetricsTail returns a tail of path starting after its last complete
// line (at 0 when the file does not exist yet).
func NewMetricsTail(path string) (*MetricsTail, error) {
	t := &MetricsTail{path: path}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %w", path, err)
	}
	defer f.Close()
	if t.file, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("metrics %s: %w", path, err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %w", path, err)
	}
	t.off = int64(bytes.LastIndexByte(b, '\n') + 1)
	return t, nil
}

// Path returns the file followed.
func (t *MetricsTail) Path() string { return t.path }

// Read returns the records of the complete lines appended since the last
// Read. A missing file gives none; lines that are not step records are
// skipped.
func (t *MetricsTail) Read() ([]StepRecord, error) {
	f, err := os.Open(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %w", t.path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %w", t.path, err)
	}
	if st.Size() < t.off || (t.file != nil && !os.SameFile(t.file, st)) {
		t.off = 0 // replaced, or cut below what was read: a new file
	}
	t.file = st
	b, err := io.ReadAll(io.NewSectionReader(f, t.off, st.Size()-t.off))
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %w", t.path, err)
	}
	end := bytes.LastIndexByte(b, '\n') + 1
	t.off += int64(end)
	return parseStepLines(b[:end]), nil
}

// parseStepLines parses complete metrics lines, skipping any that do not
// hold a positive step.
func parseStepLines(b []byte) []StepRecord {
	var out []StepRecord
	for line := range bytes.Lines(b) {
		var w struct {
			Step int             `json:"step"`
			Loss json.RawMessage `json:"loss"`
		}
		if json.Unmarshal(line, &w) != nil || w.Step <= 0 {
			continue
		}
		out = append(out, StepRecord{Step: w.Step, Loss: parseLoss(w.Loss)})
	}
	return out
}

// parseLoss reads a number, or the strings "NaN", "+Inf" and "-Inf" the
// trainer writes for non-finite losses.
func parseLoss(raw json.RawMessage) float64 {
	s := string(raw)
	if u, err := strconv.Unquote(s); err == nil {
		s = u
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

// JobProgress folds a job's step records into where it stands.
type JobProgress struct {
	Records int     // step records seen
	First   int     // first step seen (a resumed job starts past 1)
	Step    int     // latest step
	Loss    float64 // latest loss
	// Rewinds counts the times the step went back: a restarted or regrouped
	// job resumed from its last checkpoint and redoes the steps after it.
	Rewinds int
}

// Add records one step.
func (p *JobProgress) Add(r StepRecord) {
	if p.Records == 0 {
		p.First = r.Step
	} else if r.Step <= p.Step {
		p.Rewinds++
	}
	p.Records++
	p.Step, p.Loss = r.Step, r.Loss
}
