package trainer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrRunExists: a fresh run was asked for in a directory that already
// holds one. Nothing was touched.
var ErrRunExists = errors.New("the run directory already holds a run")

// ErrCannotResume: --resume found checkpoints but could load none of them
// (a config that does not match, corrupt files). Nothing was touched.
var ErrCannotResume = errors.New("cannot resume")

// existingRun describes what a run directory already holds: its
// checkpoints (newest first) and whether it has a metrics.jsonl. Other
// files (the control secret, logs) do not make a run.
type existingRun struct {
	Checkpoints []string
	Metrics     bool
}

func inspectRunDir(dir string) existingRun {
	_, err := os.Stat(filepath.Join(dir, MetricsFile))
	return existingRun{Checkpoints: listCheckpoints(dir), Metrics: err == nil}
}

func (e existingRun) any() bool { return len(e.Checkpoints) > 0 || e.Metrics }

func (e existingRun) String() string {
	if len(e.Checkpoints) > 0 {
		return fmt.Sprintf("checkpoints up to %s", filepath.Base(e.Checkpoints[0]))
	}
	return MetricsFile
}

// claimRunDir decides, before anything is written, whether a fresh run may
// use dir: an empty or missing directory is fine; one holding a run is
// refused unless overwrite is set, and then it is moved aside to a
// sibling named dir.old-<time> (never deleted), whose path is returned.
func claimRunDir(dir string, overwrite bool, now time.Time) (movedTo string, err error) {
	ex := inspectRunDir(dir)
	if !ex.any() {
		return "", nil
	}
	if !overwrite {
		return "", fmt.Errorf("%w: %s has %s; continue it with --resume, or start over with --overwrite (the old run is moved to %s.old-<time>, not deleted)",
			ErrRunExists, dir, ex, filepath.Clean(dir))
	}
	base := filepath.Clean(dir) + ".old-" + now.UTC().Format("20060102-150405")
	dst := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, os.ErrNotExist) {
			break
		}
		dst = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(dir, dst); err != nil {
		return "", fmt.Errorf("--overwrite: moving the old run aside: %w", err)
	}
	return dst, nil
}

// resumeFailure is the error of a resume that found checkpoints and could
// load none: every checkpoint and its reason.
func resumeFailure(dir string, tried []string, errs []error) error {
	var b strings.Builder
	fmt.Fprintf(&b, "none of the %d checkpoints in %s can be loaded; nothing was changed", len(tried), dir)
	for i, p := range tried {
		fmt.Fprintf(&b, "\n  %s: %v", p, errs[i])
	}
	b.WriteString("\n(a config that differs from the run's? compare it with the checkpoint's state.json)")
	return fmt.Errorf("%w: %s", ErrCannotResume, b.String())
}
