package launch

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/bus"
)

// runBound caps every launch in these tests; workers finish in well under a
// second, so hitting it means a hang.
const runBound = 30 * time.Second

// syncBuffer is a bytes.Buffer safe for the tee goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// procConfig runs nproc copies of this test binary playing role.
func procConfig(t *testing.T, role string, nproc int, env ...string) (Config, *syncBuffer, *syncBuffer) {
	t.Helper()
	var stdout, stderr syncBuffer
	return Config{
		NProcPerNode:   nproc,
		NodeRank:       0,
		Job:            "test-job",
		Host:           "127.0.0.1",
		GossipPortBase: AnyPort,
		LogDir:         t.TempDir(),
		Executable:     os.Args[0],
		Command:        []string{"-test.run=^$"},
		Env:            append([]string{envTestRole + "=" + role}, env...),
		RestartDelay:   10 * time.Millisecond,
		Grace:          10 * time.Second,
		Stdout:         &stdout,
		Stderr:         &stderr,
	}, &stdout, &stderr
}

// runPlan runs cfg in the background under runBound; Run's result arrives
// on the returned channel.
func runPlan(t *testing.T, ctx context.Context, cfg Config) <-chan error {
	t.Helper()
	return runPlanReport(t, ctx, cfg, new(Report))
}

// runPlanReport is runPlan that also stores the run's report in rep before
// the result arrives.
func runPlanReport(t *testing.T, ctx context.Context, cfg Config, rep *Report) <-chan error {
	t.Helper()
	p, err := NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, runBound, errors.New("test bound hit: launch hung"))
	done := make(chan error, 1)
	go func() {
		defer cancel()
		var err error
		*rep, err = p.RunReport(ctx)
		done <- err
	}()
	return done
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(runBound + 15*time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitPids waits until dir holds want pid files and returns their pids.
func waitPids(t *testing.T, dir string, want int) []int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		names, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
		if len(names) == want {
			var pids []int
			for _, n := range names {
				pid, err := strconv.Atoi(readFile(t, n))
				if err != nil {
					t.Fatal(err)
				}
				pids = append(pids, pid)
			}
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d workers wrote their pid", len(names), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processGone reports whether pid no longer runs (a zombie counts as gone:
// a reparented grandchild waits for an init that may be slow to reap it).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}

func checkGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for !processGone(pid) {
			if time.Now().After(deadline) {
				t.Errorf("process %d still runs: orphan", pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestRunEnvLogsAndTee(t *testing.T) {
	cfg, stdout, _ := procConfig(t, "env", 2, bus.EnvNATSURL+"=nats://bus:4222")
	cfg.Tee = true
	if err := wait(t, runPlan(t, context.Background(), cfg)); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		path := filepath.Join(cfg.LogDir, "worker-0-"+strconv.Itoa(i)+".log")
		log := readFile(t, path)
		for _, want := range []string{
			"RANK=" + strconv.Itoa(i) + "\n", "WORLD_SIZE=2\n", "LOCAL_RANK=" + strconv.Itoa(i) + "\n",
			"FDSM_RESTART_COUNT=0\n", "FDSM_WORKER_LOG=" + path + "\n", "FDSM_JOB=test-job\n",
			"FDSM_NATS_URL=nats://bus:4222\n", "MASTER_ADDR=127.0.0.1\n", "FDSM_NODE_RANK=0\n",
			"==== fdsm launch: worker exited: exit status 0",
		} {
			if !strings.Contains(log, want) {
				t.Errorf("worker %d log lacks %q:\n%s", i, want, log)
			}
		}
	}
	if out := stdout.String(); !strings.Contains(out, "[worker 0-0] LOCAL_RANK=0\n") ||
		strings.Contains(out, "LOCAL_RANK=1") {
		t.Errorf("tee output should echo local worker 0 only, prefixed:\n%s", out)
	}
}

func TestRunRestartsThenFails(t *testing.T) {
	pidDir := t.TempDir()
	cfg, _, stderr := procConfig(t, "fail", 2, envFakeFailLocal+"=1", envFakePidDir+"="+pidDir,
		envFakeWaitFor+"="+filepath.Join(pidDir, "0.pid"))
	cfg.MaxRestarts = 2
	err := wait(t, runPlan(t, context.Background(), cfg))
	var werr *WorkerError
	if !errors.As(err, &werr) {
		t.Fatalf("err = %v, want a *WorkerError", err)
	}
	logFile := filepath.Join(cfg.LogDir, "worker-0-1.log")
	if werr.LocalRank != 1 || werr.Rank != 1 || werr.Restarts != 2 || werr.ExitCode != 3 || werr.LogFile != logFile {
		t.Errorf("worker error %+v", werr)
	}
	if !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), logFile) {
		t.Errorf("error %q should name the status and the log", err)
	}
	if len(werr.Tail) != DefaultTailLines || werr.Tail[len(werr.Tail)-1] != "fatal: the real error" ||
		!strings.Contains(werr.Tail[0], "restart 2") {
		t.Errorf("tail %q: want the last %d lines of the last incarnation", werr.Tail, DefaultTailLines)
	}
	if msg := stderr.String(); !strings.Contains(msg, "fatal: the real error") || !strings.Contains(msg, logFile) {
		t.Errorf("stderr should show the log tail:\n%s", msg)
	}
	log := readFile(t, logFile)
	for r := range 3 {
		if !strings.Contains(log, "restart "+strconv.Itoa(r)+",") {
			t.Errorf("log lacks incarnation %d:\n%s", r, log)
		}
	}
	// Worker 0 was sleeping: it got SIGTERM when worker 1 ran out of restarts.
	if log0 := readFile(t, filepath.Join(cfg.LogDir, "worker-0-0.log")); !strings.Contains(log0, "got terminated") {
		t.Errorf("worker 0 was not terminated:\n%s", log0)
	}
	checkGone(t, waitPids(t, pidDir, 1))
}

func TestRunRestartRecovers(t *testing.T) {
	cfg, _, _ := procConfig(t, "fail", 1, envFakeSucceedAfter+"=2")
	cfg.MaxRestarts = 3
	var rep Report
	if err := wait(t, runPlanReport(t, context.Background(), cfg, &rep)); err != nil {
		t.Fatal(err)
	}
	if w := rep.Workers[0]; len(rep.Workers) != 1 || w.Restarts != 2 || w.Status != "exit status 0" || rep.Elapsed <= 0 {
		t.Errorf("report %+v: want worker 0 restarted twice, then exit status 0", rep)
	}
	log := readFile(t, filepath.Join(cfg.LogDir, "worker-0-0.log"))
	if !strings.Contains(log, "fine this time") {
		t.Errorf("third incarnation did not succeed:\n%s", log)
	}
	if n := strings.Count(log, "==== fdsm launch: job"); n != 3 {
		t.Errorf("%d incarnations, want 3:\n%s", n, log)
	}
}

func TestRunCancelForwardsSIGTERM(t *testing.T) {
	pidDir := t.TempDir()
	cfg, _, _ := procConfig(t, "sleep", 2, envFakePidDir+"="+pidDir, envFakeGrandchild+"=1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runPlan(t, ctx, cfg)
	pids := waitPids(t, pidDir, 4) // two workers, two grandchildren
	cancel()
	err := wait(t, done)
	if !errors.Is(err, ErrStopped) || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want ErrStopped wrapping context.Canceled", err)
	}
	for i := range 2 {
		log := readFile(t, filepath.Join(cfg.LogDir, "worker-0-"+strconv.Itoa(i)+".log"))
		if !strings.Contains(log, "got terminated") {
			t.Errorf("worker %d did not get SIGTERM:\n%s", i, log)
		}
	}
	checkGone(t, pids)
}

func TestRunGraceThenKill(t *testing.T) {
	pidDir := t.TempDir()
	cfg, _, _ := procConfig(t, "sleep", 2, envFakePidDir+"="+pidDir, envFakeIgnoreTerm+"=1")
	cfg.Grace = 300 * time.Millisecond
	sigs := make(chan os.Signal, 1)
	cfg.Signals = sigs
	var rep Report
	done := runPlanReport(t, context.Background(), cfg, &rep)
	pids := waitPids(t, pidDir, 2)
	sigs <- syscall.SIGINT
	err := wait(t, done)
	if !errors.Is(err, ErrStopped) || !strings.Contains(err.Error(), "interrupt") {
		t.Errorf("err = %v, want ErrStopped naming the signal", err)
	}
	if rep.StoppedCleanly() || rep.Workers[0].Status != "signal: killed" {
		t.Errorf("report %+v: workers killed after the grace period did not stop cleanly", rep)
	}
	log := readFile(t, filepath.Join(cfg.LogDir, "worker-0-0.log"))
	if !strings.Contains(log, "got interrupt") || !strings.Contains(log, "signal: killed") {
		t.Errorf("worker 0 should get SIGINT, ignore it and be killed:\n%s", log)
	}
	checkGone(t, pids)
}

func TestRunStartFailure(t *testing.T) {
	cfg, _, _ := procConfig(t, "env", 2)
	cfg.Executable = filepath.Join(t.TempDir(), "no-such-fdsm")
	err := wait(t, runPlan(t, context.Background(), cfg))
	if err == nil || !strings.Contains(err.Error(), "start worker 0") {
		t.Fatalf("err = %v, want a start error naming worker 0", err)
	}
}

func TestLauncherDeathKillsWorkers(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Pdeathsig is Linux only")
	}
	pidDir := t.TempDir()
	launcher := exec.Command(os.Args[0], "-test.run=^$")
	launcher.Env = append(os.Environ(), envTestRole+"=launcher", envFakePidDir+"="+pidDir)
	if err := launcher.Start(); err != nil {
		t.Fatal(err)
	}
	pids := waitPids(t, pidDir, 2)
	if err := launcher.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = launcher.Wait()
	checkGone(t, pids)
}

// TestRunInterruptedWorkersStopCleanly: workers that exit 130 after the
// launcher forwarded Ctrl-C (fdsm train does, once its checkpoint is
// written) stopped cleanly: the launch reports ErrStopped, each worker's
// status, and a clean stop.
func TestRunInterruptedWorkersStopCleanly(t *testing.T) {
	pidDir := t.TempDir()
	cfg, _, _ := procConfig(t, "sleep", 2, envFakePidDir+"="+pidDir,
		envFakeSignalExit+"="+strconv.Itoa(ExitInterrupted))
	logs := &syncBuffer{}
	cfg.Log = zerolog.New(logs)
	sigs := make(chan os.Signal, 1)
	cfg.Signals = sigs
	var rep Report
	done := runPlanReport(t, context.Background(), cfg, &rep)
	pids := waitPids(t, pidDir, 2)
	sigs <- syscall.SIGINT
	if err := wait(t, done); !errors.Is(err, ErrStopped) {
		t.Fatalf("err = %v, want ErrStopped", err)
	}
	if !rep.StoppedCleanly() || len(rep.Workers) != 2 {
		t.Errorf("report %+v: want a clean stop of two workers", rep)
	}
	for _, w := range rep.Workers {
		if w.ExitCode != ExitInterrupted || w.Status != "exit status 130" || w.Restarts != 0 {
			t.Errorf("worker %+v: want exit status 130, no restarts", w)
		}
	}
	if n := strings.Count(logs.String(), `"message":"worker stopped"`); n != 2 || strings.Contains(logs.String(), `"message":"worker exited"`) {
		t.Errorf("want two clean stops logged:\n%s", logs.String())
	}
	checkGone(t, pids)
}

// TestRunDoesNotRestartUsageErrors: a worker that refused its command
// (ExitUsage: a bad config, a run directory it may not use) is not
// restarted: a restart would fail the same way, or, for a refused run
// directory, resume the run the user did not ask to continue.
func TestRunDoesNotRestartUsageErrors(t *testing.T) {
	pidDir := t.TempDir()
	cfg, _, _ := procConfig(t, "fail", 1, envFakeExit+"="+strconv.Itoa(ExitUsage), envFakePidDir+"="+pidDir)
	cfg.MaxRestarts = 3
	err := wait(t, runPlan(t, context.Background(), cfg))
	var werr *WorkerError
	if !errors.As(err, &werr) {
		t.Fatalf("err = %v, want a *WorkerError", err)
	}
	if werr.Restarts != 0 || werr.ExitCode != ExitUsage {
		t.Errorf("worker error %+v: want exit %d and no restarts", werr, ExitUsage)
	}
}
