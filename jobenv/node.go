package jobenv

import (
	"net"
	"strconv"
)

// Node is what the environment says about one node's share of a job: the
// inputs of `fdsm launch` that its flags leave open. A field is set only
// when some variable gives it.
type Node struct {
	// MinNodes and MaxNodes are the job's node count (equal unless Elastic;
	// 0: not given).
	MinNodes, MaxNodes int
	Elastic            bool // PET_NNODES=MIN:MAX
	NodeRank           int  // -1: not given
	NProcPerNode       int  // 0: not given
	// NProcPerNodeErr says why PET_NPROC_PER_NODE could not be read (torchrun's
	// auto, cpu and gpu, which count devices fdsm launch does not count). It
	// matters only where --nproc-per-node is not given.
	NProcPerNodeErr error
	Job             string
	Seeds           []string // host or host:port entries
	// SeedPort is the port of a seed taken from another launcher's master
	// (PET_MASTER_PORT): the gossip port this node's first worker binds,
	// unless --gossip-port says otherwise. 0: none.
	SeedPort int
	Host     string // FDSM_HOST, else POD_IP; "" when neither is set
	// Launcher names the launcher whose variables were read: "kubeflow",
	// "slurm" or "".
	Launcher string
}

// nodeView is what another launcher's variables say about a node.
type nodeView struct {
	launcher           string
	minNodes, maxNodes int
	elastic            bool
	nodeRank           int // -1: unsaid
	nodeVar            string
	nproc              int
	nprocErr           error
	job, seedHost      string
	seedPort           int
}

// ResolveNode reads the inputs of `fdsm launch` from the environment. Each
// value comes from the first source that gives it (flags, which the caller
// applies, come before all of them):
//
//	nodes          PET_NNODES (N or MIN:MAX); SLURM_STEP_NUM_NODES (SLURM_NNODES) in an srun task
//	node rank      PET_NODE_RANK, JOB_COMPLETION_INDEX and SLURM_NODEID, which must agree
//	workers here   PET_NPROC_PER_NODE (a number)
//	job            FDSM_JOB; PET_RDZV_ID; slurm-<SLURM_JOB_ID>-<SLURM_STEP_ID>; else the master's address
//	seeds          FDSM_SEEDS; PET_MASTER_ADDR:PET_MASTER_PORT; the first host of SLURM_STEP_NODELIST
//	host           FDSM_HOST; POD_IP
//
// Kubeflow's variables are read when any of PET_NNODES, PET_NODE_RANK,
// PET_NPROC_PER_NODE or PET_MASTER_ADDR is set, else Slurm's in an srun
// task, where the step must run one task (one launcher) per node.
func ResolveNode(env Lookup) (Node, error) {
	r := &reader{env: env}
	v := outerNode(r)
	n := Node{Launcher: v.launcher, MinNodes: v.minNodes, MaxNodes: v.maxNodes, Elastic: v.elastic,
		NProcPerNode: v.nproc, NProcPerNodeErr: v.nprocErr, NodeRank: agreedNodeRank(r, v.nodeRank, v.nodeVar)}
	n.Job, _ = r.str(Job)
	if n.Job == "" {
		n.Job = v.job
	}
	if s, ok := r.str(Seeds); ok {
		n.Seeds = splitList(s)
	} else if v.seedHost != "" {
		n.Seeds, n.SeedPort = []string{v.seedHost}, v.seedPort
		if v.seedPort > 0 {
			n.Seeds[0] = net.JoinHostPort(v.seedHost, strconv.Itoa(v.seedPort))
		}
	}
	for _, name := range []string{Host, PodIP} {
		if h, ok := r.str(name); ok {
			n.Host = h
			break
		}
	}
	return n, r.err()
}

// outerNode reads Kubeflow's variables, else Slurm's.
func outerNode(r *reader) nodeView {
	switch {
	case r.has(PetNNodes) || r.has(PetNodeRank) || r.has(PetNProcPerNode) || r.has(PetMasterAddr):
		return kubeflowNode(r)
	case inSrunTask(r):
		return slurmNode(r)
	}
	return nodeView{nodeRank: -1}
}
