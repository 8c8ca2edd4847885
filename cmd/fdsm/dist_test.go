package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/bus"
	"github.com/fdsm-go/fdsm/cluster"
	"github.com/fdsm-go/fdsm/launch"
	"github.com/fdsm-go/fdsm/safetensors"
)

// distWorker is one `fdsm train` process of a test job.
type distWorker struct {
	cmd *exec.Cmd
	out syncBuffer // written by the process, read by the test while it runs
	ch  chan error
}

// startDistJob starts n workers of a small data-parallel job in dir: a toy
// MLP energy trained with FD-SSM for steps steps, a checkpoint every 5.
// Worker 0's gossip address is the seed. Failure detection runs with the fast
// gossip profile, the rendezvous last call is short, and collectives time
// out after 20 s (a frozen peer is found by the failure detector well
// before that).
func startDistJob(t *testing.T, dir string, n, min, steps int) []*distWorker {
	return startDistJobConfig(t, dir, n, min, toyJobYAML(steps))
}

// toyJobYAML is the config of the process tests' job: a small MLP on the
// 2-D mixture, float64, a checkpoint every 5 steps.
func toyJobYAML(steps int) string {
	return fmt.Sprintf(`model: {kind: mlp, input_dim: 2, hidden: [32, 32], activation: softplus}
data: {name: "toy:gmm2d-8"}
objective: {name: fd-ssm, eps: 0.05}
optimizer: {kind: adam, lr: 0.003}
schedule: {kind: constant}
dtype: float64
batch: 16
steps: %d
jitter: 0
checkpoint: {every: 5, keep: 3}
samples: {n: 0}
`, steps)
}

// startDistJobConfig starts n workers of the job the YAML config describes.
func startDistJobConfig(t *testing.T, dir string, n, min int, yaml string) []*distWorker {
	t.Helper()
	j := newDistJob(t, dir, min, n, yaml)
	for i := 0; i < n; i++ {
		j.start(i)
	}
	return j.workers
}

// distJob is a test job whose workers start on demand. Worker 0 starts
// first, on any free gossip port; the others get the address it logs as
// their seed (a port picked in advance could be taken by another worker's
// port-0 bind before worker 0 binds it).
type distJob struct {
	t             *testing.T
	dir, job, cfg string
	seed          string
	min, maxSize  int
	workers       []*distWorker
}

func newDistJob(t *testing.T, dir string, min, maxSize int, yaml string) *distJob {
	t.Helper()
	j := &distJob{t: t, dir: dir, job: fmt.Sprintf("t%d", time.Now().UnixNano()%1e9),
		cfg: filepath.Join(t.TempDir(), "job.yaml"), min: min, maxSize: maxSize}
	if err := os.WriteFile(j.cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, w := range j.workers {
			w.cmd.Process.Signal(syscall.SIGCONT)
			w.cmd.Process.Kill()
		}
	})
	return j
}

// workerGossipAddr waits for w's "joined" log line and returns its gossip
// address.
func (j *distJob) workerGossipAddr(w *distWorker) string {
	j.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, line := range strings.Split(w.out.String(), "\n") {
			var ev struct {
				Msg    string `json:"message"`
				Gossip string `json:"gossip"`
			}
			if json.Unmarshal([]byte(line), &ev) == nil && ev.Msg == "joined" && ev.Gossip != "" {
				return ev.Gossip
			}
		}
	}
	j.t.Fatalf("worker 0 did not join:\n%s", w.out.String())
	return ""
}

// start starts worker i (local rank i) of the job.
func (j *distJob) start(i int) *distWorker {
	j.t.Helper()
	if i != 0 && j.seed == "" {
		j.seed = j.workerGossipAddr(j.workers[0])
	}
	c := exec.Command(os.Args[0], "-test.run=^$", "--", "train", "--out", j.dir, "--config", j.cfg, "--log-format", "json")
	c.Env = append(os.Environ(), envRunMain+"=1",
		cluster.EnvJob+"="+j.job, cluster.EnvHost+"=127.0.0.1", cluster.EnvNodeRank+"=0",
		cluster.EnvLocalRank+"="+strconv.Itoa(i), cluster.EnvGossipAddr+"=127.0.0.1:0",
		cluster.EnvSeeds+"="+j.seed,
		cluster.EnvMinWorld+"="+strconv.Itoa(j.min), cluster.EnvMaxWorld+"="+strconv.Itoa(j.maxSize),
		cluster.EnvGossipProfile+"=fast", cluster.EnvLastCall+"=1s", cluster.EnvRdvTimeout+"=30s",
		cluster.EnvCollTimeout+"=20s", bus.EnvBusPort+"=-1", cluster.EnvJoinTimeout+"=30s")
	w := &distWorker{cmd: c, ch: make(chan error, 1)}
	c.Stdout, c.Stderr = &w.out, &w.out
	if err := c.Start(); err != nil {
		j.t.Fatal(err)
	}
	go func() { w.ch <- c.Wait() }()
	j.workers = append(j.workers, w)
	return w
}

// lastCheckpointStep reads the newest checkpoint's step in dir (0: none).
func lastCheckpointStep(dir string) int {
	ents, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "step-*", "state.json"))
	best := 0
	for _, e := range ents {
		b, err := os.ReadFile(e)
		if err != nil {
			continue
		}
		var st struct{ Step int }
		if json.Unmarshal(b, &st) == nil && st.Step > best {
			best = st.Step
		}
	}
	return best
}

// TestDistributedTrainingSurvivesLostWorker: three processes train; once
// the step-10 checkpoint exists one is killed (SIGKILL; each rank in turn,
// rank 0 included) or frozen (SIGSTOP). The other two regroup, resume from
// the last checkpoint and finish every step; nobody hangs.
func TestDistributedTrainingSurvivesLostWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	cases := []struct {
		victim int
		sig    syscall.Signal
	}{{0, syscall.SIGKILL}, {1, syscall.SIGKILL}, {2, syscall.SIGKILL}, {1, syscall.SIGSTOP}}
	for _, c := range cases {
		t.Run(fmt.Sprintf("rank%d-%s", c.victim, c.sig), func(t *testing.T) {
			dir := t.TempDir()
			const steps = 40
			ws := startDistJob(t, dir, 3, 2, steps)
			deadline := time.Now().Add(90 * time.Second)
			for lastCheckpointStep(dir) < 10 {
				if time.Now().After(deadline) {
					t.Fatalf("no checkpoint at step 10; worker 0 said:\n%s", ws[0].out.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := ws[c.victim].cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			for i, w := range ws {
				if i == c.victim {
					continue
				}
				select {
				case err := <-w.ch:
					if err != nil {
						t.Fatalf("worker %d: %v\n%s", i, err, w.out.String())
					}
				case <-time.After(time.Until(deadline)):
					dumpStacks(ws)
					var all strings.Builder
					for k, o := range ws {
						fmt.Fprintf(&all, "--- worker %d:\n%s\n", k, o.out.String())
					}
					t.Fatalf("worker %d hangs after rank %d got %s:\n%s", i, c.victim, c.sig, all.String())
				}
			}
			if got := lastCheckpointStep(dir); got != steps {
				t.Fatalf("final checkpoint at step %d, want %d", got, steps)
			}
			out := ws[(c.victim+1)%3].out.String()
			t.Logf("survivor log:\n%s", out)
			if !strings.Contains(out, "regroup") {
				t.Errorf("a survivor's log does not mention regrouping:\n%s", out)
			}
		})
	}
}

// TestTwoProcessesMatchOneOnCombinedBatch: two worker processes (ring
// all-reduce over TCP) with batch 8 each, or batch 4 with two accumulated
// micro-batches, end with the parameters of one process trained with batch
// 16. The objective is exact SM (no random directions) in float64 with SGD,
// so the only difference is the order of the batch mean's sum: the
// tolerance is the in-process test's (trainer.ddpTol, 1e-10 relative;
// measured differences are about 1e-17).
func TestTwoProcessesMatchOneOnCombinedBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	cfg := func(batch, acc int) string {
		return fmt.Sprintf(`model: {kind: mlp, input_dim: 2, hidden: [16, 16], activation: softplus}
data: {name: "toy:gmm2d-8", limit: 512}
objective: {name: sm}
optimizer: {kind: sgd, lr: 0.01, momentum: 0.9}
schedule: {kind: constant}
dtype: float64
batch: %d
accumulate: %d
steps: 6
jitter: 0
checkpoint: {every: 0, keep: 1}
samples: {n: 0}
ddp: {first_bucket_mb: 0.0005, bucket_mb: 0.001}
`, batch, acc)
	}
	refDir := t.TempDir()
	refCfg := filepath.Join(t.TempDir(), "ref.yaml")
	os.WriteFile(refCfg, []byte(cfg(16, 1)), 0o644)
	if _, _, err := execute(t, newRootCmd(), "train", "--config", refCfg, "--out", refDir, "--no-progress"); err != nil {
		t.Fatal(err)
	}
	ref := loadParams(t, filepath.Join(refDir, "checkpoints", "step-00000006", "model.safetensors"))
	for _, c := range []struct{ batch, acc int }{{8, 1}, {4, 2}} {
		dir := t.TempDir()
		ws := startDistJobConfig(t, dir, 2, 2, cfg(c.batch, c.acc))
		for i, w := range ws {
			select {
			case err := <-w.ch:
				if err != nil {
					t.Fatalf("worker %d: %v\n%s", i, err, w.out.String())
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("worker %d hangs:\n%s", i, w.out.String())
			}
		}
		got := loadParams(t, filepath.Join(dir, "checkpoints", "step-00000006", "model.safetensors"))
		worst := 0.0
		for name, v := range ref {
			scale := 0.0
			for _, x := range v {
				scale = math.Max(scale, math.Abs(x))
			}
			for k := range v {
				worst = math.Max(worst, math.Abs(got[name][k]-v[k])/scale)
			}
		}
		t.Logf("batch %d accumulate %d on 2 processes: max relative parameter difference %.3g", c.batch, c.acc, worst)
		if worst > 1e-10 || len(got) != len(ref) {
			t.Errorf("batch %d accumulate %d: parameters differ by %.3g (tolerance 1e-10)", c.batch, c.acc, worst)
		}
	}
}

func loadParams(t *testing.T, path string) map[string][]float64 {
	t.Helper()
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float64{}
	for name, ts := range f.Tensors {
		if out[name], err = ts.Float64s(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestLaunchedJobAdmitsRestartedWorker: `fdsm launch` runs three workers of
// a fixed-size job with one restart allowed; worker 1 is killed mid-run, the
// launcher restarts it with a new incarnation, and the survivors (who need
// three members) admit it at the regroup; the job finishes every step.
func TestLaunchedJobAdmitsRestartedWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	dir := t.TempDir()
	var logs syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	done := launchToyJob(ctx, t, dir, 400, &logs, cluster.EnvGossipProfile+"=fast", cluster.EnvLastCall+"=1s",
		bus.EnvBusPort+"=-1", cluster.EnvRdvTimeout+"=60s")
	pid := 0
	for pid == 0 || lastCheckpointStep(dir) < 10 {
		select {
		case err := <-done:
			t.Fatalf("the job ended before the kill: %v%s", err, workerTail(err))
		case <-time.After(20 * time.Millisecond):
		}
		for _, line := range strings.Split(logs.String(), "\n") {
			var ev struct {
				Msg   string `json:"message"`
				Local int    `json:"local_rank"`
				PID   int    `json:"pid"`
			}
			if json.Unmarshal([]byte(line), &ev) == nil && ev.Msg == "worker started" && ev.Local == 1 {
				pid = ev.PID
			}
		}
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("launch: %v%s\n%s", err, workerTail(err), logs.String())
	}
	if got := lastCheckpointStep(dir); got != 400 {
		t.Fatalf("final checkpoint at step %d", got)
	}
	if !strings.Contains(logs.String(), `"restart":1`) {
		t.Errorf("the launcher did not restart the worker:\n%s", logs.String())
	}
	// The restarted worker's log (appended after its predecessor's) shows
	// it in a later generation of three.
	b, _ := os.ReadFile(filepath.Join(dir, "logs", "worker-0-1.log"))
	admitted := false
	for _, line := range strings.Split(string(b), "\n") {
		var ev struct {
			Msg   string `json:"message"`
			World int    `json:"world"`
			Gen   uint64 `json:"generation"`
		}
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Msg == "group formed" && ev.World == 3 && ev.Gen > 1 {
			admitted = true
		}
	}
	if !admitted {
		t.Errorf("the restarted worker did not join a later group of three:\n%s", b)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// workerTail returns the failed worker's last log lines when err is a
// launch.WorkerError (the log file is gone with the test's temp dir).
func workerTail(err error) string {
	var we *launch.WorkerError
	if !errors.As(err, &we) {
		return ""
	}
	return "\nlast lines of its log:\n" + strings.Join(we.Tail, "\n")
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

// TestElasticJobScalesUp: an elastic job of 2..3 workers starts with two;
// a third worker that joins mid-run waits until rank 0 sees it, and after
// the next step the job checkpoints and regroups as three. `fdsm ctl stop`
// (signed with the run's secret, through rank 0's embedded bus) then stops
// all three cleanly.
func TestElasticJobScalesUp(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	dir := t.TempDir()
	j := newDistJob(t, dir, 2, 3, `model: {kind: mlp, input_dim: 2, hidden: [32, 32], activation: softplus}
data: {name: "toy:gmm2d-8"}
objective: {name: fd-ssm, eps: 0.05}
schedule: {kind: constant}
dtype: float64
batch: 16
steps: 100000000
jitter: 0
checkpoint: {every: 500, keep: 2}
samples: {n: 0}
`)
	j.start(0)
	j.start(1)
	deadline := time.Now().Add(60 * time.Second)
	waitLog := func(w *distWorker, what string, match func(map[string]any) bool) map[string]any {
		t.Helper()
		for {
			for _, line := range strings.Split(w.out.String(), "\n") {
				var ev map[string]any
				if json.Unmarshal([]byte(line), &ev) == nil && match(ev) {
					return ev
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s in the log:\n%s", what, w.out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	formed := func(world int) func(map[string]any) bool {
		return func(ev map[string]any) bool { return ev["message"] == "group formed" && ev["world"] == float64(world) }
	}
	waitLog(j.workers[0], "group of two", formed(2))
	third := j.start(2)
	waitLog(third, "group of three", formed(3))
	listening := waitLog(j.workers[0], "control bus URL", func(ev map[string]any) bool { return ev["message"] == "control bus listening" })
	url, _ := listening["url"].(string)
	if _, _, err := execute(t, newRootCmd(), "ctl", "stop", "--job", j.job, "--nats-url", url,
		"--secret-file", filepath.Join(dir, bus.ControlSecretFile), "--wait", "10s"); err != nil {
		t.Fatalf("ctl stop: %v", err)
	}
	for i, w := range j.workers {
		select {
		case err := <-w.ch:
			if err != nil {
				t.Fatalf("worker %d: %v\n%s", i, err, w.out.String())
			}
		case <-time.After(time.Until(deadline)):
			t.Fatalf("worker %d did not stop:\n%s", i, w.out.String())
		}
	}
	if !strings.Contains(j.workers[0].out.String(), "members wait to join") {
		t.Errorf("rank 0 did not report the scale-up:\n%s", j.workers[0].out.String())
	}
	if lastCheckpointStep(dir) == 0 {
		t.Error("no checkpoint after the stop")
	}
}

// dumpStacks makes every worker still running print its goroutines (Go
// does on SIGQUIT) into its log, so a hang can be diagnosed from the test
// output.
func dumpStacks(ws []*distWorker) {
	for _, w := range ws { // an exited worker just refuses the signal
		w.cmd.Process.Signal(syscall.SIGCONT)
		w.cmd.Process.Signal(syscall.SIGQUIT)
	}
	time.Sleep(time.Second)
}

// launchToyJob runs `fdsm launch` in-process with three workers of the toy
// job (steps steps, a checkpoint every 5, one restart allowed per worker)
// in dir, the launcher's JSON log into logs; env adds worker variables.
// The returned channel receives launch.Run's result.
func launchToyJob(ctx context.Context, t *testing.T, dir string, steps int, logs *syncBuffer, env ...string) <-chan error {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "job.yaml")
	os.WriteFile(cfg, []byte(toyJobYAML(steps)), 0o644)
	done := make(chan error, 1)
	go func() {
		done <- launch.Run(ctx, launch.Config{NProcPerNode: 3, GossipPortBase: launch.AnyPort, MaxRestarts: 1,
			RestartDelay: 100 * time.Millisecond, Host: "127.0.0.1", LogDir: filepath.Join(dir, "logs"),
			Executable: os.Args[0], Command: []string{"-test.run=^$", "--", "train", "--config", cfg, "--out", dir},
			Env:    append([]string{envRunMain + "=1"}, env...),
			Stdout: io.Discard, Stderr: io.Discard, Log: zerolog.New(logs)})
	}()
	return done
}
