package launch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/bus"
	"github.com/fdsm-go/fdsm/jobenv"
)

// runScript runs one of launch/scripts with env added to this process's
// environment and returns its combined output.
func runScript(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join("scripts", name)}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestSingleNodeScript: one worker per visible GPU, each given its own.
func TestSingleNodeScript(t *testing.T) {
	out, err := runScript(t, []string{jobenv.CUDAVisibleDevices + "=0,1,2,3"}, "single-node-multigpu.sh", "--dry-run",
		"-f", "/opt/fdsm", "--tee", "--", "train", "--config", "job.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := "/opt/fdsm launch --nproc-per-node 4 --gpus-per-worker 1 --tee -- train --config job.yaml"
	if !strings.Contains(out, want) {
		t.Errorf("output %q lacks %q", out, want)
	}
}

// TestMultiNodeSSHScript: one launcher per host, node ranks in host-file
// order, the first host as seed, one job id and one secret for all.
func TestMultiNodeSSHScript(t *testing.T) {
	hosts := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(hosts, []byte("alice@node0  # the seed\nnode1\n"), 0o644)
	out, err := runScript(t, []string{jobenv.JobSecret + "=the-secret-of-this-test"}, "multi-node-ssh.sh", "--dry-run",
		"-H", hosts, "-n", "2", "-j", "exp1", "-l", t.TempDir(), "--", "train", "--config", "job.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one ssh command per host:\n%s", out)
	}
	for i, host := range []string{"alice@node0", "node1"} {
		for _, want := range []string{host, "--nnodes\\ 2\\ --node-rank\\ " + string(rune('0'+i)), "--seeds\\ node0:7946",
			"--job\\ exp1", jobenv.JobSecret + "=the-secret-of-this-test", bus.EnvBusHost + "=0.0.0.0"} {
			if !strings.Contains(lines[i], want) {
				t.Errorf("host %d: %q lacks %q", i, lines[i], want)
			}
		}
	}
}

// TestSlurmScript: one launcher per node through srun, a worker per GPU,
// and refusals that name the problem.
func TestSlurmScript(t *testing.T) {
	// SLURM_GPUS_ON_NODE is the script's input alone (fdsm does not read it).
	slurm := []string{jobenv.SlurmJobID + "=4242", jobenv.SlurmNNodes + "=2", "SLURM_GPUS_ON_NODE=4"}
	out, err := runScript(t, slurm, "slurm.sbatch", "--dry-run", "-f", "/opt/fdsm", "--grace", "60s", "--",
		"train", "--out", "/shared/run")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := "srun --nodes=2 --ntasks=2 --ntasks-per-node=1 --kill-on-bad-exit=1 /opt/fdsm launch " +
		"--nproc-per-node 4 --gpus-per-worker 1 --grace 60s -- train --out /shared/run"
	if !strings.Contains(out, want) {
		t.Errorf("output %q lacks %q", out, want)
	}
	for _, c := range []struct {
		env  []string
		args []string
		want string
	}{
		{[]string{jobenv.SlurmJobID + "="}, []string{"--", "train"}, "sbatch"},
		{slurm, []string{"-n", "3", "--", "train"}, "4 GPUs per node do not split over 3 workers"},
		{slurm, []string{"train"}, "missing the fdsm command"},
	} {
		out, err := runScript(t, c.env, "slurm.sbatch", append([]string{"--dry-run"}, c.args...)...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("%v %v: %v, output %q lacks %q", c.env, c.args, err, out, c.want)
		}
	}
}
