package main

import (
	"path/filepath"
	"sync"

	"github.com/fdsm-go/fdsm/trainer"
)

// metricsLog appends a run's step metrics to its metrics.jsonl, opened at
// the first step so that a run that fails its checks (bad data, a run
// directory it may not use) writes nothing. The first error is kept and
// later writes are dropped. Safe for concurrent use: a data-parallel run's
// rank 0 may change between generations.
type metricsLog struct {
	path string

	mu  sync.Mutex
	w   *trainer.MetricsWriter
	err error
}

func newMetricsLog(out string) *metricsLog {
	return &metricsLog{path: filepath.Join(out, trainer.MetricsFile)}
}

func (l *metricsLog) write(m trainer.StepMetrics) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return
	}
	if l.w == nil {
		if l.w, l.err = trainer.NewMetricsWriter(l.path); l.err != nil {
			return
		}
	}
	l.err = l.w.Write(m)
}

// close closes the file (the plots read it afterwards) and returns the
// first error of the run's writes.
func (l *metricsLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w != nil {
		l.w.Close()
		l.w = nil
	}
	return l.err
}
