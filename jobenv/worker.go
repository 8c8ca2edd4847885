package jobenv

import (
	"net"
	"os"
	"strconv"
)

// Worker is a worker's place in its job as the environment describes it:
// what cluster.NodeConfigFromEnv needs to join the job.
type Worker struct {
	Job       string
	Host      string // advertised to peers
	NodeRank  int    // -1: unknown (ranks then follow host and local rank at rendezvous)
	LocalRank int
	// MinWorld and MaxWorld bound the job's world in processes.
	MinWorld, MaxWorld int
	Seeds              []string // gossip seeds, host:port or a DNS name[:port]
	GossipAddr         string   // memberlist bind address, host:port (port 0: any)
	// Launcher names the launcher whose variables described the job where
	// fdsm's own are unset: "torchrun", "kubeflow", "slurm", or "".
	Launcher string
}

// workerView is what another launcher's variables say about a worker.
type workerView struct {
	launcher           string
	job                string
	nodeRank           int    // -1: unsaid
	nodeVar            string // the variable that gave nodeRank
	localRank          int
	minWorld, maxWorld int // 0: unsaid
	seedHost           string
	seedPort           int
	seedVar            string // the variable the seed would come from, for messages
	// first: this process is the launcher's rank 0, which binds the seed
	// port so that the others find it there.
	first bool
}

// ResolveWorker reads a worker's place in its job. Each value comes from
// the first source that gives it:
//
//	job        FDSM_JOB; TORCHELASTIC_RUN_ID, PET_RDZV_ID or slurm-<SLURM_JOB_ID>-<SLURM_STEP_ID>;
//	           else the master's address (MASTER_ADDR, PET_MASTER_ADDR)
//	node rank  FDSM_NODE_RANK; JOB_COMPLETION_INDEX; GROUP_RANK (else RANK / LOCAL_WORLD_SIZE,
//	           else RANK), PET_NODE_RANK or SLURM_NODEID
//	local rank FDSM_LOCAL_RANK; LOCAL_RANK, SLURM_LOCALID; 0
//	world      FDSM_MIN_WORLD, FDSM_MAX_WORLD; WORLD_SIZE, PET_NNODES (N or MIN:MAX), SLURM_NTASKS; 1
//	seeds      FDSM_SEEDS; MASTER_ADDR:MASTER_PORT, PET_MASTER_ADDR:PET_MASTER_PORT, or the first
//	           host of SLURM_STEP_NODELIST (SLURM_NODELIST) at MASTER_PORT or DefaultGossipPort
//	host       FDSM_HOST; POD_IP; the host name when another launcher describes the job; 127.0.0.1
//	gossip     FDSM_GOSSIP_ADDR; host:<seed port> for the other launcher's rank 0; host:0
//
// Another launcher's variables are read only when FDSM_JOB is unset, and
// then only the innermost launcher's: torchrun's (RANK set), else
// Kubeflow's (PET_NNODES or PET_NODE_RANK), else Slurm's (an srun task:
// SLURM_PROCID and SLURM_STEP_ID). Under torchrun's agent
// (TORCHELASTIC_RUN_ID set) the seed port is MASTER_PORT+1, since the
// agent's own store holds MASTER_PORT on the master node.
//
// Malformed or inconsistent values are one error naming every variable at
// fault; the Worker then holds what could be read.
func ResolveWorker(env Lookup) (Worker, error) {
	r := &reader{env: env}
	v := workerView{nodeRank: -1}
	if !r.has(Job) {
		v = outerWorker(r)
	}
	w := Worker{Launcher: v.launcher, Host: advertisedHost(r, v.launcher != "")}
	w.Job, _ = r.str(Job)
	if w.Job == "" {
		w.Job = v.job
	}
	w.NodeRank = workerNodeRank(r, v)
	w.LocalRank = v.localRank
	if n, ok := r.num(LocalRank, "a local rank", 0); ok {
		w.LocalRank = n
	}
	w.MinWorld, w.MaxWorld = workerWorld(r, v)
	w.Seeds, w.GossipAddr = workerSeeds(r, v, w.Host)
	if w.Job == "" {
		r.fail("%s is not set, and no other launcher's variables name the job (%s, %s, %s and %s under srun)",
			Job, TorchRunID, PetRdzvID, MasterAddr, SlurmJobID)
	}
	return w, r.err()
}

// outerWorker reads the innermost other launcher's variables.
func outerWorker(r *reader) workerView {
	switch {
	case r.has(Rank):
		return torchrunWorker(r)
	case r.has(PetNNodes) || r.has(PetNodeRank):
		return kubeflowWorker(r)
	case inSrunTask(r):
		return slurmWorker(r)
	}
	return workerView{nodeRank: -1}
}

// advertisedHost is the host a process advertises: FDSM_HOST, else POD_IP,
// else, where another launcher spreads the job over machines, the host name
// (peers on other machines must reach it), else loopback.
func advertisedHost(r *reader, outer bool) string {
	for _, name := range []string{Host, PodIP} {
		if h, ok := r.str(name); ok {
			return h
		}
	}
	if outer {
		if h, err := os.Hostname(); err == nil && h != "" {
			return h
		}
	}
	return "127.0.0.1"
}

// workerNodeRank takes FDSM_NODE_RANK, else the completion index and the
// other launcher's node rank, which must agree.
func workerNodeRank(r *reader, v workerView) int {
	if n, ok := r.num(NodeRank, "a node rank", -1); ok {
		return n
	}
	return agreedNodeRank(r, v.nodeRank, v.nodeVar)
}

// agreedNodeRank merges JOB_COMPLETION_INDEX with another source's node
// rank (-1: none): both describe the same pod, so they must agree.
func agreedNodeRank(r *reader, rank int, from string) int {
	idx, ok := r.num(JobCompletionIndex, "a node rank", 0)
	switch {
	case !ok:
		return rank
	case rank >= 0 && rank != idx:
		r.fail("%s=%d but %s gives node rank %d: both describe this pod and must agree", JobCompletionIndex, idx, from, rank)
	}
	return idx
}

// workerWorld takes FDSM_MIN_WORLD and FDSM_MAX_WORLD (0 or unset: the
// minimum), else the other launcher's world, else 1.
func workerWorld(r *reader, v workerView) (int, int) {
	lo, hi := max(v.minWorld, 1), max(v.maxWorld, v.minWorld, 1)
	if n, ok := r.num(MinWorld, "a world size", 1); ok {
		lo, hi = n, n
	}
	if n, ok := r.num(MaxWorld, "a world size", 0); ok && n > 0 {
		hi = n
	}
	if hi < lo {
		r.fail("the world's maximum %d (%s) is below its minimum %d (%s)", hi, MaxWorld, lo, MinWorld)
	}
	return lo, hi
}

// workerSeeds takes FDSM_SEEDS and FDSM_GOSSIP_ADDR, else the other
// launcher's master as the seed, bound by that launcher's rank 0.
func workerSeeds(r *reader, v workerView, host string) ([]string, string) {
	bind, _ := r.str(GossipAddr)
	if s, ok := r.str(Seeds); ok {
		if bind == "" {
			bind = net.JoinHostPort(host, "0")
		}
		return splitList(s), bind
	}
	var seeds []string
	if v.seedHost != "" {
		seeds = []string{net.JoinHostPort(v.seedHost, strconv.Itoa(v.seedPort))}
	} else if v.maxWorld > 1 {
		r.fail("no gossip seed: set %s or %s", Seeds, v.seedVar)
	}
	if bind == "" {
		port := 0
		if v.first && v.seedHost != "" {
			port = v.seedPort
		}
		bind = net.JoinHostPort(host, strconv.Itoa(port))
	}
	return seeds, bind
}
