package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"

	"github.com/fdsm-go/fdsm/k8s"
	"github.com/fdsm-go/fdsm/trainer"
)

// TestLaunchKubernetesPodsAsProcesses runs the cpu overlay's Job as
// processes: one per pod, with exactly its pod template's command,
// arguments and environment (k8sJob). Once the run has committed a
// quarter of its steps, pod 0 (the gossip seed, rank 0 and the bus) is
// killed like a lost node; the Job's failure policy decides what follows,
// and a replacement pod of the same index (a new name and address, as the
// Job controller makes) joins the survivor. Training completes, and the
// regrouped job resumes from a checkpoint no older than the last one
// committed before the kill.
func TestLaunchKubernetesPodsAsProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	if runtime.GOOS != "linux" {
		t.Skip("pods bind their own addresses in 127.0.0.0/8, which only Linux routes to loopback")
	}
	j := newK8sJob(t, "cpu")
	j.createSecrets()
	runDir, steps := j.runDir(), j.steps()
	for i := range int(*j.job.Spec.Completions) {
		j.start(i)
	}
	committed := j.waitCheckpoint(runDir, steps/4, steps)
	j.kill(0)
	if failures := j.runToCompletion(90 * time.Second); failures != 1 {
		t.Errorf("%d pods failed, want the one killed", failures)
	}
	if got := lastCheckpointStep(runDir); got != steps {
		t.Fatalf("final checkpoint at step %d, want %d", got, steps)
	}
	resumed := resumedSteps(t, filepath.Join(runDir, "logs"))
	t.Logf("checkpoint at step %d when pod 0 was killed; resumed from %v", committed, resumed)
	if len(resumed) == 0 || slices.Min(resumed) < committed {
		t.Errorf("resumed from %v, want steps no older than %d: a committed step was lost", resumed, committed)
	}
}

// createSecrets creates every Secret the pods read, as an operator does
// before applying the Job (docs/kubernetes.md).
func (j *k8sJob) createSecrets() {
	for _, e := range j.c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			b := make([]byte, 32)
			rand.Read(b)
			j.secrets[e.ValueFrom.SecretKeyRef.Name+"/"+e.ValueFrom.SecretKeyRef.Key] = hex.EncodeToString(b)
		}
	}
}

// runDir is the run directory the pods train into, on the host.
func (j *k8sJob) runDir() string {
	a, err := k8s.ParseLaunchArgs(j.c.Args)
	if err != nil {
		j.t.Fatal(err)
	}
	return j.hostPath(a.Out)
}

// steps reads the job's steps from the ConfigMap's config.
func (j *k8sJob) steps() int {
	a, _ := k8s.ParseLaunchArgs(j.c.Args)
	cfg, err := trainer.LoadConfig(j.hostPath(a.Config))
	if err != nil {
		j.t.Fatal(err)
	}
	return cfg.Steps
}

// waitCheckpoint waits for a checkpoint at step at least from (and before
// the last step, else the config is too short to kill a pod mid-run), and
// returns the newest checkpoint's step.
func (j *k8sJob) waitCheckpoint(runDir string, from, last int) int {
	deadline := time.Now().Add(60 * time.Second)
	for {
		step := lastCheckpointStep(runDir)
		switch {
		case step >= last:
			j.t.Fatalf("the job finished before the kill: give the cpu overlay's config more steps")
		case step >= from:
			return step
		case time.Now().After(deadline):
			j.t.Fatalf("no checkpoint at step %d after 60 s:\n%s", from, j.logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runToCompletion plays the Job controller until every index has
// succeeded: a failed pod is judged by the Job's podFailurePolicy and
// replaced (same index) while the failures stay within backoffLimit. It
// returns the failures counted.
func (j *k8sJob) runToCompletion(limit time.Duration) int {
	done, failures := map[int]bool{}, 0
	timeout := time.After(limit)
	for len(done) < int(*j.job.Spec.Completions) {
		var ev k8sExit
		select {
		case ev = <-j.exits:
		case <-timeout:
			j.t.Fatalf("the job did not complete within %s:\n%s", limit, j.logs())
		}
		if ev.code == 0 {
			done[ev.pod.index] = true
			continue
		}
		switch action := k8s.FailureAction(j.job, j.c.Name, ev.code, false); action {
		case batchv1.PodFailurePolicyActionFailJob:
			j.t.Fatalf("pod %s exited %d: the Job fails (%s):\n%s", ev.pod.name, ev.code, action, j.logs())
		case batchv1.PodFailurePolicyActionCount:
			if failures++; failures > int(*j.job.Spec.BackoffLimit) {
				j.t.Fatalf("pod %s exited %d: backoffLimit exceeded:\n%s", ev.pod.name, ev.code, j.logs())
			}
		}
		j.t.Logf("pod %s exited %d: replaced", ev.pod.name, ev.code)
		j.start(ev.pod.index)
	}
	return failures
}

// logs returns every pod's output and every worker's log, for a failure.
func (j *k8sJob) logs() string {
	var b strings.Builder
	for _, p := range j.pods {
		b.WriteString("--- pod " + p.name + " (" + p.ip + "):\n" + p.out.String())
	}
	files, _ := filepath.Glob(filepath.Join(j.runDir(), "logs", "*.log"))
	for _, f := range files {
		text, _ := os.ReadFile(f)
		b.WriteString("--- " + filepath.Base(f) + ":\n" + string(text))
	}
	return b.String()
}

// resumedSteps lists the steps that the workers' logs say runs resumed
// from.
func resumedSteps(t *testing.T, logDir string) []int {
	files, err := filepath.Glob(filepath.Join(logDir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	var steps []int
	for _, f := range files {
		text, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(text), "\n") {
			var ev struct {
				Msg  string `json:"message"`
				Step int    `json:"step"`
			}
			if json.Unmarshal([]byte(line), &ev) == nil && ev.Msg == "resumed" {
				steps = append(steps, ev.Step)
			}
		}
	}
	return steps
}
