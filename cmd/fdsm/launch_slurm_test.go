package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/jobenv"
)

// fakeSrun stands in for srun on one machine: it starts the step's tasks
// as local processes, one per "node" (the script asks for one task per
// node), each with the variables srun gives a task. A node's address is
// FAKE_SUBNET<i+1>, which real srun does not set: the nodes' host names
// would say it.
const fakeSrun = `#!/usr/bin/env bash
nodes=1
while [[ "$1" == -* ]]; do
	case "$1" in --nodes=*) nodes="${1#*=}" ;; esac
	shift
done
pids=()
for ((i = 0; i < nodes; i++)); do
	SLURM_STEP_ID=0 SLURM_PROCID=$i SLURM_NODEID=$i SLURM_LOCALID=0 SLURM_NTASKS=$nodes \
	SLURM_STEP_NUM_NODES=$nodes SLURM_STEP_NODELIST="${FAKE_SUBNET}[1-$nodes]" \
	FDSM_HOST="${FAKE_SUBNET}$((i + 1))" "$@" &
	pids+=($!)
done
rc=0
for p in "${pids[@]}"; do
	wait "$p" || { s=$?; ((s > rc)) && rc=$s; }
done
exit $rc
`

// TestLaunchSlurmScriptRunsJob: launch/scripts/slurm.sbatch, run as sbatch would
// in an allocation of two nodes, starts one fdsm launch per node through
// srun; the launchers take their node count, node rank, job id and seed
// from Slurm's variables alone (jobenv) and train the job to its end.
func TestLaunchSlurmScriptRunsJob(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	if runtime.GOOS != "linux" {
		t.Skip("nodes bind their own addresses in 127.0.0.0/8, which only Linux routes to loopback")
	}
	dir, bin := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(bin, "srun"), fakeSrun)
	// The test binary runs as fdsm when its arguments follow "--".
	writeFile(t, filepath.Join(bin, "fdsm"), fmt.Sprintf("#!/bin/sh\nexec %q -test.run='^$' -- \"$@\"\n", os.Args[0]))
	for _, f := range []string{"srun", "fdsm"} {
		os.Chmod(filepath.Join(bin, f), 0o755)
	}
	cfg := filepath.Join(t.TempDir(), "job.yaml")
	writeFile(t, cfg, toyJobYAML(40))
	cmd := exec.Command("bash", "../../launch/scripts/slurm.sbatch", "-f", filepath.Join(bin, "fdsm"), "--",
		"train", "--config", cfg, "--out", dir)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), envRunMain+"=1", jobenv.SlurmJobID+"=4242",
		jobenv.SlurmNNodes+"=2", fmt.Sprintf("FAKE_SUBNET=127.%d.%d.", 100+rand.IntN(100), rand.IntN(250)))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("slurm.sbatch: %v\n%s", err, out)
	}
	for _, want := range []string{"job slurm-4242-0 (node 0 of 2)", "job slurm-4242-0 (node 1 of 2)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in the launchers' output:\n%s", want, out)
		}
	}
	if got := lastCheckpointStep(dir); got != 40 {
		t.Errorf("final checkpoint at step %d, want 40:\n%s", got, out)
	}
}
