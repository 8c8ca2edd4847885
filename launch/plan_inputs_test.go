package launch

import (
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/jobenv"
)

// TestPlanFromKubeflow: in a Kubeflow Trainer v2 pod, fdsm launch takes its
// open flags from PET_* as torchrun does: nodes, node rank, workers, the
// master as seed and its port as the gossip base (node 0's worker 0 must
// listen where the others look).
func TestPlanFromKubeflow(t *testing.T) {
	cfg := baseConfig(t)
	cfg.NProcPerNode, cfg.Job, cfg.Host = AutoNProcPerNode, "", ""
	cfg.BaseEnv = []string{jobenv.PetNNodes + "=2", jobenv.PetNodeRank + "=1", jobenv.PetNProcPerNode + "=4",
		jobenv.PetMasterAddr + "=tj-node-0-0.tj", jobenv.PetMasterPort + "=29500", jobenv.JobCompletionIndex + "=1",
		jobenv.PodIP + "=10.0.0.4"}
	p, err := NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Config
	if c.NNodes != 2 || c.NodeRank != 1 || c.NProcPerNode != 4 || c.Host != "10.0.0.4" || c.Job != "tj-node-0-0-tj" {
		t.Fatalf("plan %+v", c)
	}
	if c.Seeds[0] != "tj-node-0-0.tj:29500" || p.Workers[0].GossipAddr != "10.0.0.4:29500" || p.Workers[3].Rank != 7 {
		t.Fatalf("seeds %q, worker 0 gossip %s, worker 3 rank %d", c.Seeds, p.Workers[0].GossipAddr, p.Workers[3].Rank)
	}
	checkEnv(t, envMap(p.Env(3, 0)), map[string]string{jobenv.Rank: "7", jobenv.WorldSize: "8",
		jobenv.NodeRank: "1", jobenv.MasterPort: "29500"})

	// Flags win over the variables.
	cfg.NProcPerNode, cfg.NNodes, cfg.NodeRank, cfg.GossipPortBase = 2, 3, 2, 7000
	cfg.Seeds = []string{"other:7000"}
	if p, err = NewPlan(cfg); err != nil {
		t.Fatal(err)
	}
	if c := p.Config; c.NNodes != 3 || c.NodeRank != 2 || c.NProcPerNode != 2 || c.Seeds[0] != "other:7000" {
		t.Fatalf("flags lost to the environment: %+v", c)
	}
}

// TestPlanFromSrun: one fdsm launch per node of an srun step takes the
// step's nodes, its node index, a job id of the step and the first node as
// seed at the launcher's gossip port.
func TestPlanFromSrun(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Job = ""
	cfg.BaseEnv = []string{jobenv.SlurmProcID + "=1", jobenv.SlurmStepID + "=0", jobenv.SlurmNTasks + "=2",
		jobenv.SlurmStepNumNodes + "=2", jobenv.SlurmNodeID + "=1", jobenv.SlurmStepNodeList + "=gpu[07-08]",
		jobenv.SlurmJobID + "=4242"}
	p, err := NewPlan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c := p.Config; c.NNodes != 2 || c.NodeRank != 1 || c.Job != "slurm-4242-0" || c.Seeds[0] != "gpu07:7946" {
		t.Fatalf("plan %+v", c)
	}
}

// TestPlanInputErrors: what the environment cannot give is an error naming
// the variable, and only where no flag gives the value instead.
func TestPlanInputErrors(t *testing.T) {
	cfg := baseConfig(t)
	cfg.NProcPerNode = AutoNProcPerNode
	cfg.BaseEnv = []string{jobenv.PetNProcPerNode + "=auto"}
	if _, err := NewPlan(cfg); err == nil || !strings.Contains(err.Error(), jobenv.PetNProcPerNode) {
		t.Fatalf("PET_NPROC_PER_NODE=auto without --nproc-per-node: %v", err)
	}
	cfg.NProcPerNode = 2
	if _, err := NewPlan(cfg); err != nil {
		t.Fatalf("--nproc-per-node given: %v", err)
	}
	cfg.BaseEnv = []string{jobenv.PetNodeRank + "=0", jobenv.JobCompletionIndex + "=1"}
	if _, err := NewPlan(cfg); err == nil || !strings.Contains(err.Error(), jobenv.PetNodeRank) {
		t.Fatalf("disagreeing node ranks: %v", err)
	}
}
