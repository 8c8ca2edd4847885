package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/cluster"
)

// distWorker is one `fdsm train` process of a test job.
type distWorker struct {
	cmd *exec.Cmd
	out bytes.Buffer
	ch  chan error
}

// freePort returns a TCP port free at the moment on loopback.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startDistJob starts n workers of a small data-parallel job in dir: a toy
// MLP energy trained with FD-SSM for steps steps, a checkpoint every 5.
// Worker 0's gossip port is the seed. Failure detection runs with the fast
// gossip profile, the rendezvous last call is short, and collectives time
// out after 20 s (a frozen peer is found by the failure detector well
// before that).
func startDistJob(t *testing.T, dir string, n, min, steps int) []*distWorker {
	t.Helper()
	seed := freePort(t)
	job := fmt.Sprintf("t%d", time.Now().UnixNano()%1e9)
	cfg := filepath.Join(t.TempDir(), "job.yaml")
	yaml := fmt.Sprintf(`model: {kind: mlp, input_dim: 2, hidden: [32, 32], activation: softplus}
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
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	var ws []*distWorker
	for i := 0; i < n; i++ {
		gossip := "127.0.0.1:0"
		if i == 0 {
			gossip = fmt.Sprintf("127.0.0.1:%d", seed)
		}
		c := exec.Command(os.Args[0], "-test.run=^$", "--", "train", "--out", dir, "--config", cfg, "--log-format", "json")
		c.Env = append(os.Environ(), envRunMain+"=1",
			cluster.EnvJob+"="+job, cluster.EnvHost+"=127.0.0.1", cluster.EnvNodeRank+"=0",
			cluster.EnvLocalRank+"="+strconv.Itoa(i), cluster.EnvGossipAddr+"="+gossip,
			cluster.EnvSeeds+"="+fmt.Sprintf("127.0.0.1:%d", seed),
			cluster.EnvMinWorld+"="+strconv.Itoa(min), cluster.EnvMaxWorld+"="+strconv.Itoa(n),
			cluster.EnvGossipProfile+"=fast", cluster.EnvLastCall+"=1s", cluster.EnvRdvTimeout+"=30s",
			cluster.EnvCollTimeout+"=20s", cluster.EnvBusPort+"=-1", cluster.EnvJoinTimeout+"=30s")
		w := &distWorker{cmd: c, ch: make(chan error, 1)}
		c.Stdout, c.Stderr = &w.out, &w.out
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { w.ch <- c.Wait() }()
		ws = append(ws, w)
	}
	t.Cleanup(func() {
		for _, w := range ws {
			w.cmd.Process.Signal(syscall.SIGCONT)
			w.cmd.Process.Kill()
		}
	})
	return ws
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
					t.Fatalf("worker %d hangs after rank %d got %s:\n%s", i, c.victim, c.sig, w.out.String())
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
