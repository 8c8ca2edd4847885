package cluster

import (
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/jobenv"
)

// clearJobEnv unsets every variable of the contract for the test.
func clearJobEnv(t *testing.T) {
	for _, name := range []string{EnvJob, EnvSeeds, EnvHost, EnvNodeRank, EnvLocalRank, EnvMinWorld, EnvMaxWorld,
		EnvGossipAddr, jobenv.PodIP, EnvJobCompletionIndex, jobenv.Rank, jobenv.WorldSize, jobenv.PetNNodes,
		jobenv.PetNodeRank, jobenv.SlurmProcID, jobenv.SlurmStepID} {
		t.Setenv(name, "")
	}
}

// TestNodeConfigFromSrun: an srun task that runs fdsm train is a member of
// the step's job, which InCluster sees; the batch script is not.
func TestNodeConfigFromSrun(t *testing.T) {
	clearJobEnv(t)
	t.Setenv(jobenv.SlurmProcID, "0")
	t.Setenv(jobenv.SlurmNTasks, "4")
	if InCluster() {
		t.Fatal("the batch script (no srun step) runs fdsm train alone, not as a member")
	}
	for k, v := range map[string]string{jobenv.SlurmStepID: "0", jobenv.SlurmLocalID: "0", jobenv.SlurmNodeID: "0",
		jobenv.SlurmJobID: "77", jobenv.SlurmStepNodeList: "n[3-4]", EnvHost: "127.0.0.1"} {
		t.Setenv(k, v)
	}
	if !InCluster() {
		t.Fatal("an srun task of four is a member")
	}
	c, err := NodeConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.Member.Job != "slurm-77-0" || c.Rendezvous.Min != 4 || c.Rendezvous.Max != 4 ||
		len(c.Seeds) != 1 || c.Seeds[0] != "n3:7946" || c.GossipAddr != "127.0.0.1:7946" {
		t.Fatalf("job %q world %d..%d seeds %q gossip %s", c.Member.Job, c.Rendezvous.Min, c.Rendezvous.Max,
			c.Seeds, c.GossipAddr)
	}
	t.Setenv(jobenv.SlurmProcID, "4")
	if _, err := NodeConfigFromEnv(); err == nil || !strings.Contains(err.Error(), jobenv.SlurmProcID) {
		t.Fatalf("task 4 of 4: %v", err)
	}
}
