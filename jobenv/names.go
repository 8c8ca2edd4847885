package jobenv

// DefaultGossipPort is the gossip port of a launcher's first worker and of
// seeds given without a port: memberlist's usual LAN port.
const DefaultGossipPort = 7946

// fdsm's own variables: `fdsm launch` sets them for each worker; a pod spec
// or a script may set them for a worker or a launcher.
const (
	Job            = "FDSM_JOB"              // job id; members of different jobs ignore each other
	Seeds          = "FDSM_SEEDS"            // comma-separated gossip seeds, host:port or a DNS name[:port]
	Host           = "FDSM_HOST"             // host name or address advertised to peers
	NodeRank       = "FDSM_NODE_RANK"        // the launcher's node rank; -1 or unset when elastic
	LocalRank      = "FDSM_LOCAL_RANK"       // index of this worker on its node
	LocalWorldSize = "FDSM_LOCAL_WORLD_SIZE" // workers on this node
	MinWorld       = "FDSM_MIN_WORLD"        // smallest world (processes) the job runs with
	MaxWorld       = "FDSM_MAX_WORLD"        // largest world (processes)
	GossipAddr     = "FDSM_GOSSIP_ADDR"      // memberlist bind host:port (port 0: any)
	AdvertiseAddr  = "FDSM_ADVERTISE_ADDR"   // gossip address peers should use, when it differs
	DataAddr       = "FDSM_DATA_ADDR"        // collective data-plane bind host:port (port 0: any)
	Devices        = "FDSM_DEVICES"          // local accelerator count
	RestartCount   = "FDSM_RESTART_COUNT"    // times the launcher restarted this worker
	WorkerLog      = "FDSM_WORKER_LOG"       // the worker's log file, opened by the launcher

	JobSecret     = "FDSM_JOB_SECRET"      // the job's one secret: data-plane MACs, gossip key, bus token
	GossipKey     = "FDSM_GOSSIP_KEY"      // base64 gossip encryption key (16, 24 or 32 bytes)
	GossipKeyFile = "FDSM_GOSSIP_KEY_FILE" // file holding the base64 gossip key

	GossipProfile     = "FDSM_GOSSIP_PROFILE"     // "lan" (default) or "fast" (failures seen in about a second)
	JoinTimeout       = "FDSM_JOIN_TIMEOUT"       // how long joining the seeds may take (Go duration)
	LastCall          = "FDSM_LAST_CALL"          // rendezvous last call (Go duration; 0: none)
	RdvTimeout        = "FDSM_RDV_TIMEOUT"        // rendezvous timeout (Go duration)
	CollectiveTimeout = "FDSM_COLLECTIVE_TIMEOUT" // deadline of one collective (Go duration)
)

// Variables fdsm sets or reads on behalf of the libraries and runtimes that
// own them.
const (
	// GOMAXPROCS: `fdsm launch` gives each worker its share of the CPUs.
	GOMAXPROCS = "GOMAXPROCS"
	// CUDAVisibleDevices: `fdsm launch --gpus-per-worker` gives each worker
	// its devices.
	CUDAVisibleDevices = "CUDA_VISIBLE_DEVICES"
	// NCCLPrefix starts the variables NCCL reads (NCCL_DEBUG,
	// NCCL_SOCKET_IFNAME, ...); fdsm passes them through untouched.
	NCCLPrefix = "NCCL_"
)

// own lists fdsm's own variables, for Known.
var own = []string{
	Job, Seeds, Host, NodeRank, LocalRank, LocalWorldSize, MinWorld, MaxWorld, GossipAddr, AdvertiseAddr,
	DataAddr, Devices, RestartCount, WorkerLog, JobSecret, GossipKey, GossipKeyFile, GossipProfile,
	JoinTimeout, LastCall, RdvTimeout, CollectiveTimeout,
}
