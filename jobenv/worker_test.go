package jobenv

import (
	"reflect"
	"strings"
	"testing"
)

// TestResolveWorker: each launcher's variables map onto the worker's place,
// with fdsm's own winning.
func TestResolveWorker(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		want Worker
	}{
		{"fdsm launch (outer launchers' variables ignored)", []string{
			Job + "=exp1", Seeds + "=a:7946, b:7946", Host + "=10.0.0.5", NodeRank + "=1", LocalRank + "=3",
			MinWorld + "=4", MaxWorld + "=8", GossipAddr + "=10.0.0.5:7949",
			Rank + "=7", WorldSize + "=8", SlurmProcID + "=1", SlurmStepID + "=0", PetNProcPerNode + "=4",
		}, Worker{Job: "exp1", Host: "10.0.0.5", NodeRank: 1, LocalRank: 3, MinWorld: 4, MaxWorld: 8,
			Seeds: []string{"a:7946", "b:7946"}, GossipAddr: "10.0.0.5:7949"}},
		{"pod spec: node rank from the completion index, host from POD_IP", []string{
			Job + "=fdsm", Seeds + "=fdsm-0.fdsm:7946", JobCompletionIndex + "=2", PodIP + "=10.1.2.3",
		}, Worker{Job: "fdsm", Host: "10.1.2.3", NodeRank: 2, MinWorld: 1, MaxWorld: 1,
			Seeds: []string{"fdsm-0.fdsm:7946"}, GossipAddr: "10.1.2.3:0"}},
		{"PyTorchJob v1 pod", []string{
			Rank + "=2", WorldSize + "=4", MasterAddr + "=job-master-0", MasterPort + "=23456", PodIP + "=10.0.0.7",
		}, Worker{Job: "job-master-0", Host: "10.0.0.7", NodeRank: 2, MinWorld: 4, MaxWorld: 4,
			Seeds: []string{"job-master-0:23456"}, GossipAddr: "10.0.0.7:0", Launcher: "torchrun"}},
		{"PyTorchJob v1 master binds the seed port", []string{
			Rank + "=0", WorldSize + "=4", MasterAddr + "=job-master-0", MasterPort + "=23456", PodIP + "=10.0.0.6",
		}, Worker{Job: "job-master-0", Host: "10.0.0.6", NodeRank: 0, MinWorld: 4, MaxWorld: 4,
			Seeds: []string{"job-master-0:23456"}, GossipAddr: "10.0.0.6:23456", Launcher: "torchrun"}},
		{"under torchrun's agent", []string{
			Rank + "=5", WorldSize + "=8", TorchLocalRank + "=1", TorchLocalWorldSize + "=4", GroupRank + "=1",
			MasterAddr + "=n0", MasterPort + "=29500", TorchRunID + "=exp.7", Host + "=n1",
		}, Worker{Job: "exp-7", Host: "n1", NodeRank: 1, LocalRank: 1, MinWorld: 8, MaxWorld: 8,
			Seeds: []string{"n0:29501"}, GossipAddr: "n1:0", Launcher: "torchrun"}},
		{"Kubeflow Trainer v2 pod running fdsm train", []string{
			PetNNodes + "=3", PetNodeRank + "=0", PetNProcPerNode + "=1", PetMasterAddr + "=tj-node-0-0.tj",
			PetMasterPort + "=29500", JobCompletionIndex + "=0", PodIP + "=10.0.0.9",
		}, Worker{Job: "tj-node-0-0-tj", Host: "10.0.0.9", NodeRank: 0, MinWorld: 3, MaxWorld: 3,
			Seeds: []string{"tj-node-0-0.tj:29500"}, GossipAddr: "10.0.0.9:29500", Launcher: "kubeflow"}},
		{"srun task", []string{
			SlurmProcID + "=5", SlurmNTasks + "=8", SlurmLocalID + "=1", SlurmNodeID + "=1", SlurmJobID + "=4242",
			SlurmStepID + "=0", SlurmStepNodeList + "=gpu[07-08]", SlurmNodeList + "=other", Host + "=gpu08",
		}, Worker{Job: "slurm-4242-0", Host: "gpu08", NodeRank: 1, LocalRank: 1, MinWorld: 8, MaxWorld: 8,
			Seeds: []string{"gpu07:7946"}, GossipAddr: "gpu08:0", Launcher: "slurm"}},
		{"fdsm's variables override another launcher's field by field", []string{
			Rank + "=1", WorldSize + "=2", MasterAddr + "=m", Seeds + "=s:1", NodeRank + "=-1", Host + "=h",
		}, Worker{Job: "m", Host: "h", NodeRank: -1, MinWorld: 2, MaxWorld: 2, Seeds: []string{"s:1"},
			GossipAddr: "h:0", Launcher: "torchrun"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ResolveWorker(List(c.env))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// TestResolveWorkerErrors: malformed and inconsistent values are errors
// naming every variable at fault.
func TestResolveWorkerErrors(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		want []string
	}{
		{"no job", []string{SlurmProcID + "=0", SlurmNTasks + "=4"}, []string{Job}}, // the batch script: no srun step
		{"rank without world", []string{Rank + "=1", MasterAddr + "=m"}, []string{WorldSize}},
		{"rank beyond world", []string{Rank + "=4", WorldSize + "=4", MasterAddr + "=m"}, []string{"RANK=4 is not below WORLD_SIZE=4"}},
		{"rank off its node", []string{Rank + "=5", WorldSize + "=8", GroupRank + "=0", TorchLocalRank + "=1",
			TorchLocalWorldSize + "=4", MasterAddr + "=m"}, []string{Rank, GroupRank, TorchLocalWorldSize}},
		{"local rank beyond its node", []string{Rank + "=3", WorldSize + "=8", TorchLocalRank + "=4",
			TorchLocalWorldSize + "=4", MasterAddr + "=m"}, []string{"LOCAL_RANK=4 is not below LOCAL_WORLD_SIZE=4"}},
		{"no master", []string{Rank + "=1", WorldSize + "=2"}, []string{Seeds, MasterAddr}},
		{"index and PET disagree", []string{PetNNodes + "=4", PetNodeRank + "=2", JobCompletionIndex + "=1",
			PetMasterAddr + "=m"}, []string{JobCompletionIndex, PetNodeRank}},
		{"several workers in a worker pod", []string{PetNNodes + "=2", PetNodeRank + "=0", PetNProcPerNode + "=4",
			PetMasterAddr + "=m"}, []string{PetNProcPerNode, "fdsm launch"}},
		{"PET node rank beyond nodes", []string{PetNNodes + "=2", PetNodeRank + "=2", PetMasterAddr + "=m"},
			[]string{"PET_NODE_RANK=2 is not below PET_NNODES=2"}},
		{"bad node count", []string{PetNNodes + "=two", PetMasterAddr + "=m"}, []string{PetNNodes}},
		{"task beyond tasks", []string{SlurmProcID + "=8", SlurmNTasks + "=8", SlurmStepID + "=0",
			SlurmJobID + "=1", SlurmNodeList + "=n1"}, []string{"SLURM_PROCID=8 is not below SLURM_NTASKS=8"}},
		{"no node list", []string{SlurmProcID + "=1", SlurmNTasks + "=8", SlurmStepID + "=0", SlurmJobID + "=1"},
			[]string{Seeds, SlurmStepNodeList}},
		{"bad node list", []string{SlurmProcID + "=1", SlurmNTasks + "=8", SlurmStepID + "=0", SlurmJobID + "=1",
			SlurmStepNodeList + "=gpu[07-"}, []string{SlurmStepNodeList, "unbalanced"}},
		{"world upside down", []string{Job + "=j", MinWorld + "=4", MaxWorld + "=2"}, []string{MinWorld, MaxWorld}},
		{"malformed", []string{Job + "=j", LocalRank + "=three", NodeRank + "=x", MinWorld + "=0"},
			[]string{LocalRank, NodeRank, MinWorld}},
		{"bad master port", []string{Rank + "=0", WorldSize + "=2", MasterAddr + "=m", MasterPort + "=70000"},
			[]string{MasterPort}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ResolveWorker(List(c.env))
			for _, want := range c.want {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v does not name %q", err, want)
				}
			}
		})
	}
}

// TestEmptyMeansUnset: a variable set to nothing is not given (a pod spec
// or script that clears it).
func TestEmptyMeansUnset(t *testing.T) {
	w, err := ResolveWorker(List([]string{Job + "=j", Host + "=", PodIP + "=10.0.0.1", Rank + "="}))
	if err != nil || w.Host != "10.0.0.1" || w.Launcher != "" {
		t.Fatalf("%+v %v", w, err)
	}
}
