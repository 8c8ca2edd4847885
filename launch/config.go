// Package launch starts the workers of one node of an fdsm job, the way
// torchrun does: one process per device, each told its place in the job
// through environment variables (package jobenv), with per-worker log files,
// signal forwarding and restarts of failed workers.
//
// Build a Plan from a Config (NewPlan resolves defaults and validates), then
// Run it; Run is the shortcut for both. The launcher only starts and watches
// processes: ranks of elastic jobs are agreed among the workers themselves
// at rendezvous (package cluster).
package launch

import (
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/jobenv"
)

// Defaults of the Config fields whose zero value means "pick for me".
const (
	DefaultGossipPort   = jobenv.DefaultGossipPort
	DefaultGrace        = 30 * time.Second
	DefaultRestartDelay = time.Second
	DefaultTailLines    = 20
	// DefaultElasticRestarts is the restart budget of each worker of an
	// elastic job when Config.MaxRestarts is AutoRestarts; static jobs get 0.
	DefaultElasticRestarts = 3
)

// Sentinels for Config fields whose zero value is meaningful.
const (
	// UnknownNodeRank asks NewPlan to take the node rank from
	// JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs), else 0 on a single
	// node; elastic jobs may leave it unknown.
	UnknownNodeRank = -1
	// AnyPort as GossipPortBase lets every worker bind any free port (tests);
	// a single-node job without seeds then gets distinct free ports picked
	// up front for all its workers, worker 0's being the seed.
	AnyPort = -1
	// AutoRestarts as MaxRestarts means DefaultElasticRestarts for elastic
	// jobs and 0 for static ones.
	AutoRestarts = -1
	// AutoNProcPerNode as NProcPerNode takes PET_NPROC_PER_NODE (Kubeflow),
	// else 1.
	AutoNProcPerNode = -1
)

// Config describes this node's share of a job: how many workers to start
// here, where the node stands among the job's nodes, and what to run. Zero
// values of optional fields select the documented defaults; NewPlan fills
// them in and validates everything.
type Config struct {
	// NProcPerNode is the number of workers started on this node (>= 1, or
	// AutoNProcPerNode).
	NProcPerNode int

	// NNodes is the node count of a static job; 0 means the environment's
	// (PET_NNODES, or SLURM_STEP_NUM_NODES in an srun task; see
	// jobenv.ResolveNode), else 1. It conflicts with MinNodes/MaxNodes.
	NNodes int
	// NodeRank is this node's index in [0, NNodes). UnknownNodeRank takes it
	// from the environment (JOB_COMPLETION_INDEX, PET_NODE_RANK,
	// SLURM_NODEID), else 0 for a single node. Note that 0 is a real rank:
	// set UnknownNodeRank explicitly when you want the lookup.
	NodeRank int
	// MinNodes and MaxNodes make the job elastic when either is set: workers
	// learn RANK and WORLD_SIZE at rendezvous, which waits for at least
	// MinNodes*NProcPerNode processes and takes at most MaxNodes*NProcPerNode.
	// MinNodes defaults to 1 and MaxNodes to MinNodes.
	MinNodes, MaxNodes int

	// Seeds are gossip addresses (host or host:port; a bare host gets the
	// gossip base port) of workers to join. Entries may hold comma-separated
	// lists. Empty: FDSM_SEEDS, else another launcher's master
	// (PET_MASTER_ADDR, the first node of an srun step), else, on a single
	// node, this node's worker 0.
	Seeds []string
	// Job is the job id shared by all nodes ([A-Za-z0-9_-], at most 64
	// characters: it is part of memberlist names and NATS subjects). Empty:
	// FDSM_JOB, else another launcher's (PET_RDZV_ID, the srun step), else a
	// fresh id on a single node; jobs on several nodes need one given, since
	// every node must agree on it.
	Job string
	// Host is the name or address advertised to peers. Empty: FDSM_HOST, else
	// POD_IP, else os.Hostname.
	Host string
	// DataHost is the host of the collective data plane (port 0: any).
	// Empty: Host.
	DataHost string
	// GossipPortBase is the gossip port of worker 0; worker i binds
	// Host:GossipPortBase+i. 0 means the port of a seed taken from another
	// launcher's master (PET_MASTER_PORT), else DefaultGossipPort; AnyPort
	// lets workers bind any port.
	GossipPortBase int

	// LogDir holds the per-worker log files worker-<node>-<local>.log
	// (worker-<host>-<local>.log when the node rank is unknown). Files are
	// appended to, each incarnation after a header line. Empty: <out>/logs
	// when the command has --out, else ./fdsm-logs/<job>.
	LogDir string
	// Tee echoes local worker 0's output to Stdout, each line prefixed.
	Tee bool

	// MaxRestarts is how many times each worker may be restarted after a
	// non-zero exit before the launch fails. AutoRestarts: 3 elastic, 0 static.
	MaxRestarts int
	// RestartDelay is the pause before a restart. 0: DefaultRestartDelay.
	RestartDelay time.Duration
	// Grace is how long workers have to exit after SIGTERM/SIGINT before they
	// are killed. 0: DefaultGrace.
	Grace time.Duration

	// GPUsPerWorker, when > 0, gives worker i CUDA_VISIBLE_DEVICES with the
	// devices [i*g, (i+1)*g), indices into the launcher's own
	// CUDA_VISIBLE_DEVICES list when that is set. 0 leaves the variable
	// alone: workers then pick their device by LOCAL_RANK.
	GPUsPerWorker int

	// Command holds the worker's arguments (the fdsm arguments after --).
	Command []string
	// Executable is the worker program. Empty: os.Executable (fdsm itself).
	Executable string
	// BaseEnv is the environment workers inherit and where NewPlan looks up
	// what the fields above leave open (jobenv.ResolveNode: FDSM_JOB,
	// FDSM_SEEDS, FDSM_HOST, POD_IP, JOB_COMPLETION_INDEX, PET_*, SLURM_*)
	// and CUDA_VISIBLE_DEVICES. nil: os.Environ(). Variables the launcher sets
	// (including RANK and WORLD_SIZE, cleared for elastic jobs) replace
	// inherited ones, so FDSM_NATS_URL, FDSM_NATS_TOKEN, FDSM_GOSSIP_KEY(_FILE),
	// FDSM_CONTROL_SECRET, FDSM_COLLECTIVE_TIMEOUT and FDSM_JOIN_TIMEOUT pass
	// through when set.
	BaseEnv []string
	// Env holds extra KEY=VALUE entries for every worker; they override
	// everything else. Unless BaseEnv or Env sets GOMAXPROCS, each worker
	// gets GOMAXPROCS = CPUs/NProcPerNode (at least 1; CPUs is the
	// launcher's GOMAXPROCS, which follows a container's CPU limit), so
	// that workers sharing a machine do not each run a thread per core (the
	// reason torchrun sets OMP_NUM_THREADS=1).
	Env []string

	// Signals, when set, delivers the launcher's signals (the CLI subscribes
	// to SIGINT, SIGTERM and SIGHUP). The first one is forwarded to every
	// worker (SIGINT and SIGTERM as they are, others as SIGTERM) and starts
	// the grace period; a second one kills the workers at once.
	Signals <-chan os.Signal
	// Stdout receives the --tee echo; nil: os.Stdout.
	Stdout io.Writer
	// Stderr receives the log tail of a failed worker; nil: os.Stderr.
	Stderr io.Writer
	// TailLines is how many lines of a failed worker's log are shown.
	// 0: DefaultTailLines.
	TailLines int
	// Log receives the launcher's own events. The zero Logger discards them.
	Log zerolog.Logger
}
