package progress

import (
	"bytes"
	"io"
	"sync"
)

// eraseLine returns the cursor to the start of the line and clears it
// (ANSI EL); only ever written to a terminal.
const eraseLine = "\r\x1b[K"

// Terminal shares one output stream (stderr) between a progress line and
// other output such as log lines: a write erases the progress line, writes,
// and draws the line again below it, so logs never land in the middle of
// the line (as tqdm.write does). A Bar created on a Terminal draws through
// it. Writes to a Terminal that has no line drawn pass straight through.
//
// Threading: safe for concurrent use.
type Terminal struct {
	mu   sync.Mutex
	w    io.Writer
	line string // the progress line on screen; "" when none
}

// NewTerminal wraps w (normally os.Stderr).
func NewTerminal(w io.Writer) *Terminal { return &Terminal{w: w} }

// Write writes p above the progress line.
func (t *Terminal) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.line == "" {
		return t.w.Write(p)
	}
	if _, err := io.WriteString(t.w, eraseLine); err != nil {
		return 0, err
	}
	n, err := t.w.Write(p)
	if err == nil && bytes.HasSuffix(p, []byte("\n")) {
		_, err = io.WriteString(t.w, t.line)
	}
	return n, err
}

// draw replaces the progress line.
func (t *Terminal) draw(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.line = line
	io.WriteString(t.w, eraseLine+line)
}

// release ends the progress line where it stands; later writes go below it.
func (t *Terminal) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.line != "" {
		io.WriteString(t.w, "\n")
	}
	t.line = ""
}
