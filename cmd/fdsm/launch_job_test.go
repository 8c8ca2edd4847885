package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/launch"
	"github.com/fdsm-go/fdsm/progress"
)

func TestTrainJobReadsTheTrainCommand(t *testing.T) {
	cfg := "../../configs/small-ebm-toy-fdssm.yaml"
	job, ok, err := trainJob([]string{"train", "--config=" + cfg, "--set", "steps=77", "--set=batch=8", "--out", "runs/x", "--log-format", "json"})
	if !ok || err != nil || job.out != "runs/x" || job.cfg.Steps != 77 || job.cfg.Batch != 8 {
		t.Fatalf("ok %v, err %v, out %q, steps %d, batch %d", ok, err, job.out, job.cfg.Steps, job.cfg.Batch)
	}
	if line := job.batchLine(2, 2); !strings.Contains(line, "77 optimizer steps, batch 8 per rank, global batch 16 (batch x 2 ranks)") {
		t.Errorf("batch line %q", line)
	}
	if line := job.batchLine(2, 4); !strings.Contains(line, "global batch 16 to 32") {
		t.Errorf("elastic batch line %q", line)
	}
	// Defaults are train's own: the main job, in runs/default.
	if job, ok, err = trainJob([]string{"train"}); !ok || err != nil || job.out != "runs/default" || job.cfg.Steps <= 0 {
		t.Errorf("defaults: ok %v, err %v, out %q, steps %d", ok, err, job.out, job.cfg.Steps)
	}
	if _, ok, _ := trainJob([]string{"version"}); ok {
		t.Error("version is not a training job")
	}
	if _, ok, err := trainJob([]string{"train", "--set", "steps=ten"}); !ok || err == nil {
		t.Errorf("a bad --set: ok %v, err %v; want the config error", ok, err)
	}
}

// TestJobWatchDrawsProgress: the watcher draws nothing before the first
// step, then one line that follows the steps (back to a checkpoint too)
// and ends where the job stood when it did not succeed.
func TestJobWatchDrawsProgress(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	if err := os.WriteFile(path, []byte(`{"step":9,"loss":5}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tail, err := launch.NewMetricsTail(path)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	j := watchJob(progress.NewTerminal(&out), tail, 10, true, zerolog.Nop(), time.Hour)
	j.poll()
	if out.Len() != 0 {
		t.Fatalf("drew %q before any step of this job", out.String())
	}
	appendLines(t, path, `{"step":1,"loss":0.5}`, `{"step":2,"loss":0.25}`, `{"step":3,"lo`)
	j.poll()
	if !strings.Contains(out.String(), "2/10 step") || !strings.Contains(out.String(), "loss 0.25") {
		t.Fatalf("after two steps: %q", out.String())
	}
	appendLines(t, path, `ss":0.2}`, `{"step":2,"loss":0.3}`)
	p := j.end(false, "interrupted")
	if p.Step != 2 || p.Rewinds != 1 || p.Records != 4 {
		t.Errorf("progress %+v: want step 2 after one rewind", p)
	}
	last := out.String()[strings.LastIndex(out.String(), "\r"):]
	if !strings.Contains(last, "2/10 step") || !strings.Contains(last, "resumed 1x from a checkpoint") ||
		!strings.Contains(last, "(interrupted)") || !strings.HasSuffix(last, "\n") {
		t.Errorf("final line %q", last)
	}
}

// TestJobWatchLogsWithoutATerminal: where the line is not drawn, progress
// arrives as log lines with units in the field names.
func TestJobWatchLogsWithoutATerminal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	tail, _ := launch.NewMetricsTail(path)
	var logs bytes.Buffer
	j := watchJob(nil, tail, 5, false, zerolog.New(&logs), time.Hour)
	appendLines(t, path, `{"step":1,"loss":1}`, `{"step":5,"loss":0.5}`)
	j.end(true, "")
	if !strings.Contains(logs.String(), `"message":"job progress"`) || !strings.Contains(logs.String(), `"step":5,"steps":5,"loss":0.5`) ||
		!strings.Contains(logs.String(), `"elapsed_s":`) {
		t.Errorf("logs:\n%s", logs.String())
	}
}

func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := strings.Join(lines, "\n")
	if !strings.HasSuffix(lines[len(lines)-1], "}") {
		f.WriteString(s) // the last line is partial
		return
	}
	f.WriteString(s + "\n")
}

func TestLaunchSummaryOutcomes(t *testing.T) {
	rep := launch.Report{Elapsed: 83200 * time.Millisecond, Workers: []launch.WorkerReport{
		{LocalRank: 0, Rank: 0, Status: "exit status 130", ExitCode: 130},
		{LocalRank: 1, Rank: 1, Restarts: 1, Status: "exit status 130", ExitCode: 130}}}
	train := &launchedTrain{out: "runs/ddp"}
	train.cfg.Steps = 200
	s := launchSummary{job: "j", err: launch.ErrStopped, stopped: true, rep: rep, train: train, logDir: "/l",
		prog: launch.JobProgress{Records: 60, First: 1, Step: 57, Loss: 0.125, Rewinds: 1}}
	var b bytes.Buffer
	s.write(&b)
	for _, want := range []string{"job j interrupted after 83.2 s (1:23): step 57 of 200, last loss 0.125, resumed 1x from a checkpoint",
		"workers: 0 (rank 0) exit status 130, 0 restarts; 1 (rank 1) exit status 130, 1 restart",
		"logs: /l; run directory: runs/ddp (continue: the same command with train --resume)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
	s.rep.Workers[1].Status, s.rep.Workers[1].ExitCode = "signal: killed", -1
	if got := s.outcome(); got != "stopped (not every worker stopped cleanly)" {
		t.Errorf("a killed worker: outcome %q", got)
	}
	s.stopped, s.err = false, &launch.WorkerError{}
	if got := s.outcome(); got != "failed" {
		t.Errorf("a failed worker: outcome %q", got)
	}
	s.err = errors.New("boom")
	if got := s.outcome(); got != "failed: boom" {
		t.Errorf("outcome %q", got)
	}
	s.err = nil
	if got := s.outcome(); got != "finished early" {
		t.Errorf("exit 0 at step 57 of 200: outcome %q", got)
	}
}
