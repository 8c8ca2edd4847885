package jobenv

import (
	"reflect"
	"strings"
	"testing"
)

// TestResolveNode: the inputs of fdsm launch from Kubeflow, Slurm and
// Kubernetes variables, fdsm's own winning.
func TestResolveNode(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		want Node
	}{
		{"Kubeflow Trainer v2 pod", []string{
			PetNNodes + "=2", PetNodeRank + "=1", PetNProcPerNode + "=4", PetMasterAddr + "=tj-node-0-0.tj",
			PetMasterPort + "=29500", JobCompletionIndex + "=1", PodIP + "=10.0.0.4",
		}, Node{MinNodes: 2, MaxNodes: 2, NodeRank: 1, NProcPerNode: 4, Job: "tj-node-0-0-tj",
			Seeds: []string{"tj-node-0-0.tj:29500"}, SeedPort: 29500, Host: "10.0.0.4", Launcher: "kubeflow"}},
		{"elastic, with a run id and no master port", []string{
			PetNNodes + "=1:4", PetRdzvID + "=exp2", PetMasterAddr + "=m",
		}, Node{MinNodes: 1, MaxNodes: 4, Elastic: true, NodeRank: -1, Job: "exp2", Seeds: []string{"m"},
			Launcher: "kubeflow"}},
		{"srun, one task per node", []string{
			SlurmProcID + "=1", SlurmStepID + "=3", SlurmNTasks + "=2", SlurmStepNumNodes + "=2", SlurmNNodes + "=5",
			SlurmNodeID + "=1", SlurmStepNodeList + "=gpu[07-08]", SlurmJobID + "=99",
		}, Node{MinNodes: 2, MaxNodes: 2, NodeRank: 1, Job: "slurm-99-3", Seeds: []string{"gpu07"}, Launcher: "slurm"}},
		{"Indexed Job pod with fdsm's variables", []string{
			JobCompletionIndex + "=2", Job + "=fdsm", Seeds + "=fdsm-0.fdsm:7946,fdsm:7946", PodIP + "=10.0.0.3",
			Host + "=10.0.0.2",
		}, Node{NodeRank: 2, Job: "fdsm", Seeds: []string{"fdsm-0.fdsm:7946", "fdsm:7946"}, Host: "10.0.0.2"}},
		{"the batch script is no srun task", []string{SlurmProcID + "=0", SlurmNTasks + "=8", SlurmNNodes + "=2"},
			Node{NodeRank: -1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ResolveNode(List(c.env))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestResolveNodeErrors(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		want []string
	}{
		{"several tasks per node", []string{SlurmProcID + "=0", SlurmStepID + "=0", SlurmNTasks + "=8",
			SlurmStepNumNodes + "=2"}, []string{SlurmNTasks, "--ntasks-per-node=1"}},
		{"index and PET disagree", []string{PetNodeRank + "=0", JobCompletionIndex + "=1"},
			[]string{JobCompletionIndex, PetNodeRank}},
		{"bad index", []string{JobCompletionIndex + "=x"}, []string{"JOB_COMPLETION_INDEX=\"x\" is not a node rank"}},
		{"bad range", []string{PetNNodes + "=4:2"}, []string{PetNNodes, "MIN:MAX"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ResolveNode(List(c.env))
			for _, want := range c.want {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v does not name %q", err, want)
				}
			}
		})
	}
}

// TestSymbolicNProc: torchrun's auto is no error until fdsm launch needs
// the count (no --nproc-per-node), and then names the variable and the flag.
func TestSymbolicNProc(t *testing.T) {
	n, err := ResolveNode(List([]string{PetNProcPerNode + "=auto", PetNNodes + "=2"}))
	if err != nil || n.NProcPerNode != 0 || n.MaxNodes != 2 {
		t.Fatalf("%+v %v", n, err)
	}
	for _, want := range []string{PetNProcPerNode, "--nproc-per-node"} {
		if n.NProcPerNodeErr == nil || !strings.Contains(n.NProcPerNodeErr.Error(), want) {
			t.Errorf("%v does not name %s", n.NProcPerNodeErr, want)
		}
	}
}
