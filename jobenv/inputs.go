package jobenv

import "strings"

// torchrun's worker variables (torch.distributed.run; PyTorchJob v1 sets the
// first six on each pod). `fdsm launch` sets them too, for scripts.
const (
	Rank                = "RANK"
	WorldSize           = "WORLD_SIZE"
	TorchLocalRank      = "LOCAL_RANK"
	TorchLocalWorldSize = "LOCAL_WORLD_SIZE"
	MasterAddr          = "MASTER_ADDR"
	MasterPort          = "MASTER_PORT"
	GroupRank           = "GROUP_RANK"                 // torchrun: the node's rank
	TorchRunID          = "TORCHELASTIC_RUN_ID"        // torchrun: the rendezvous id (--rdzv-id)
	TorchRestarts       = "TORCHELASTIC_RESTART_COUNT" // torchrun: restarts so far
)

// torchrun's flags as variables (PET_<FLAG>), which Kubeflow Trainer v2 sets
// on each pod of a TrainJob: inputs of a launcher, like torchrun's flags.
const (
	PetNNodes       = "PET_NNODES"         // N or MIN:MAX
	PetNodeRank     = "PET_NODE_RANK"      // the pod's completion index
	PetNProcPerNode = "PET_NPROC_PER_NODE" // workers per pod
	PetMasterAddr   = "PET_MASTER_ADDR"
	PetMasterPort   = "PET_MASTER_PORT"
	PetRdzvID       = "PET_RDZV_ID" // the job's rendezvous id
)

// Slurm's variables of a task started by srun.
const (
	SlurmJobID        = "SLURM_JOB_ID"
	SlurmStepID       = "SLURM_STEP_ID" // set by srun only: the batch script itself is no task of a step
	SlurmProcID       = "SLURM_PROCID"  // the task's rank in the step
	SlurmNTasks       = "SLURM_NTASKS"  // tasks in the step
	SlurmLocalID      = "SLURM_LOCALID" // the task's index on its node
	SlurmNodeID       = "SLURM_NODEID"  // the node's index in the step
	SlurmStepNumNodes = "SLURM_STEP_NUM_NODES"
	SlurmNNodes       = "SLURM_NNODES"
	SlurmStepNodeList = "SLURM_STEP_NODELIST" // hostlist expression, e.g. gpu[01-04]
	SlurmNodeList     = "SLURM_NODELIST"
	SlurmJobNodeList  = "SLURM_JOB_NODELIST"
)

// Kubernetes.
const (
	// JobCompletionIndex is the index of an Indexed Job's pod: the node rank.
	JobCompletionIndex = "JOB_COMPLETION_INDEX"
	// PodIP is the pod's address, by convention from the downward API
	// (fieldRef status.podIP): the host a pod advertises when FDSM_HOST is unset.
	PodIP = "POD_IP"
)

// inputs lists the other launchers' variables, for Known.
var inputs = []string{
	Rank, WorldSize, TorchLocalRank, TorchLocalWorldSize, MasterAddr, MasterPort, GroupRank, TorchRunID, TorchRestarts,
	PetNNodes, PetNodeRank, PetNProcPerNode, PetMasterAddr, PetMasterPort, PetRdzvID,
	SlurmJobID, SlurmStepID, SlurmProcID, SlurmNTasks, SlurmLocalID, SlurmNodeID, SlurmStepNumNodes, SlurmNNodes,
	SlurmStepNodeList, SlurmNodeList, SlurmJobNodeList,
	JobCompletionIndex, PodIP,
}

// Known reports whether name is part of the contract: one of fdsm's own
// variables, another launcher's that fdsm reads, or one that fdsm sets or
// passes through for a library (GOMAXPROCS, CUDA_VISIBLE_DEVICES, NCCL_*).
// The control bus's variables are package bus's (bus/env.go).
func Known(name string) bool {
	if name == GOMAXPROCS || name == CUDAVisibleDevices || strings.HasPrefix(name, NCCLPrefix) {
		return true
	}
	for _, list := range [][]string{own, inputs} {
		for _, n := range list {
			if n == name {
				return true
			}
		}
	}
	return false
}
