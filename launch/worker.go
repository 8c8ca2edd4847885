package launch

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// exitEvent reports that one incarnation of a worker slot ended.
type exitEvent struct {
	local    int
	restarts int
	pid      int
	success  bool
	status   string   // "exit status 3", "signal: killed"
	code     int      // exit code, -1 when killed by a signal
	tail     []string // last log lines of this incarnation, when it failed
	waitErr  error    // from Wait, for the log
}

// pipeWaitDelay bounds how long Wait waits for a --tee pipe that a
// grandchild still holds open after the worker exited.
const pipeWaitDelay = 2 * time.Second

// tailWindow is how much of the end of a log file is read for its tail.
const tailWindow = 64 << 10

// spawn starts incarnation restarts of worker slot local and returns its pid.
// A goroutine waits for it, cleans up its process group and sends an
// exitEvent on exits (buffered: one live incarnation per slot at most).
func spawn(p *Plan, local, restarts int, exits chan<- exitEvent) (int, error) {
	cfg := &p.Config
	w := p.Workers[local]
	f, err := os.OpenFile(w.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("open worker log: %w", err)
	}
	_, err = fmt.Fprintf(f, "==== fdsm launch: job %s, node %d, local rank %d, restart %d, %s: %s %s\n",
		cfg.Job, cfg.NodeRank, local, restarts, time.Now().Format(time.RFC3339),
		cfg.Executable, strings.Join(cfg.Command, " "))
	var offset int64
	if err == nil {
		var st os.FileInfo
		if st, err = f.Stat(); err == nil {
			offset = st.Size()
		}
	}
	if err != nil {
		_ = f.Close()
		return 0, fmt.Errorf("write worker log %s: %w", w.LogFile, err)
	}

	cmd := exec.Command(cfg.Executable, cfg.Command...)
	cmd.Env = p.Env(local, restarts)
	cmd.SysProcAttr = sysProcAttr()
	var out io.Writer = f
	var tee *lineWriter
	if cfg.Tee && local == 0 {
		tee = &lineWriter{w: cfg.Stdout, prefix: "[worker " + nodeLabel(cfg.NodeRank, cfg.Host) + "-0] "}
		out = io.MultiWriter(f, tee)
		cmd.WaitDelay = pipeWaitDelay
	}
	cmd.Stdout, cmd.Stderr = out, out // one writer: exec serialises its writes

	started := make(chan error, 1)
	go func() {
		// Pdeathsig belongs to the forking thread: keep that thread ours until
		// the worker is gone, so no other goroutine can end it early.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		waitErr := cmd.Wait()
		// Whatever the worker left behind in its group goes with it.
		_ = signalGroup(cmd.Process.Pid, syscall.SIGKILL)
		if tee != nil {
			tee.Flush()
		}
		ev := exitEvent{local: local, restarts: restarts, pid: cmd.Process.Pid, waitErr: waitErr,
			status: "unknown exit status", code: -1}
		if st := cmd.ProcessState; st != nil {
			ev.success, ev.status, ev.code = st.Success(), st.String(), st.ExitCode()
		}
		if !ev.success {
			ev.tail = tailLines(w.LogFile, offset, cfg.TailLines)
		}
		_, _ = fmt.Fprintf(f, "==== fdsm launch: worker exited: %s, %s\n", ev.status, time.Now().Format(time.RFC3339))
		_ = f.Close()
		exits <- ev
	}()
	if err := <-started; err != nil {
		_, _ = fmt.Fprintf(f, "==== fdsm launch: start failed: %v\n", err)
		_ = f.Close()
		return 0, err
	}
	return cmd.Process.Pid, nil
}

// nodeLabel names a node in file names and prefixes: its rank, else its host.
func nodeLabel(nodeRank int, host string) string {
	if nodeRank >= 0 {
		return strconv.Itoa(nodeRank)
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case ':', '/', '\\', '[', ']':
			return '_'
		}
		return r
	}, host)
}

// tailLines returns up to n last lines of path written at or after offset.
// Errors give no lines: the tail is a courtesy, the log file is the record.
func tailLines(path string, offset int64, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil
	}
	start := max(offset, st.Size()-tailWindow)
	if start >= st.Size() {
		return nil
	}
	buf := make([]byte, st.Size()-start)
	if _, err := f.ReadAt(buf, start); err != nil && err != io.EOF {
		return nil
	}
	lines := strings.Split(strings.TrimRight(string(buf), "\n"), "\n")
	if start > offset && len(lines) > 1 {
		lines = lines[1:] // the first line was cut by the window
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// lineWriter writes whole lines to w, each after prefix. Safe for
// concurrent use.
type lineWriter struct {
	w      io.Writer
	prefix string

	mu  sync.Mutex
	buf []byte
}

func (l *lineWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(l.buf[:i+1])
		l.buf = l.buf[i+1:]
	}
	// A worker's echo must never fail or block its log; errors are dropped.
	return len(b), nil
}

// Flush writes a trailing partial line.
func (l *lineWriter) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(append(l.buf, '\n'))
		l.buf = nil
	}
}

func (l *lineWriter) emit(line []byte) {
	_, _ = io.WriteString(l.w, l.prefix+string(line))
}
