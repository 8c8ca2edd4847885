package cluster

// Environment variables through which `fdsm launch` (or a Kubernetes pod
// spec) tells a worker where it stands. The torchrun names are set too, for
// scripts that read them; fdsm itself reads these. The control bus's
// variables (FDSM_NATS_URL, FDSM_NATS_TOKEN, FDSM_CONTROL_SECRET,
// FDSM_INSECURE, ...) are package bus's (bus/env.go).
const (
	EnvJob             = "FDSM_JOB"              // job id; members of different jobs ignore each other
	EnvSeeds           = "FDSM_SEEDS"            // comma-separated host:port gossip seeds, or a DNS name[:port]
	EnvHost            = "FDSM_HOST"             // host name or address advertised to peers
	EnvNodeRank        = "FDSM_NODE_RANK"        // launcher node rank; -1 or unset when elastic
	EnvLocalRank       = "FDSM_LOCAL_RANK"       // index of this worker on its node
	EnvLocalWorldSize  = "FDSM_LOCAL_WORLD_SIZE" // workers on this node
	EnvMinWorld        = "FDSM_MIN_WORLD"        // smallest world (processes) the job runs with
	EnvMaxWorld        = "FDSM_MAX_WORLD"        // largest world (processes)
	EnvGossipAddr      = "FDSM_GOSSIP_ADDR"      // memberlist bind host:port (port 0 = any)
	EnvDataAddr        = "FDSM_DATA_ADDR"        // collective data-plane bind host:port (port 0 = any)
	EnvRestartCount    = "FDSM_RESTART_COUNT"    // times the launcher restarted this worker
	EnvGossipKey       = "FDSM_GOSSIP_KEY"       // base64 gossip encryption key (16, 24 or 32 bytes)
	EnvGossipKeyFile   = "FDSM_GOSSIP_KEY_FILE"  // file holding the base64 gossip key
	EnvCollTimeout     = "FDSM_COLLECTIVE_TIMEOUT"
	EnvJoinTimeout     = "FDSM_JOIN_TIMEOUT"
	EnvWorkerLogPrefix = "FDSM_WORKER_LOG" // per-worker log file the launcher opened

	// torchrun / PyTorchJob compatible names.
	EnvRank           = "RANK"
	EnvTorchLocalRank = "LOCAL_RANK"
	EnvWorldSize      = "WORLD_SIZE"
	EnvTorchLocalWS   = "LOCAL_WORLD_SIZE"
	EnvMasterAddr     = "MASTER_ADDR"
	EnvMasterPort     = "MASTER_PORT"
	EnvTorchRestarts  = "TORCHELASTIC_RESTART_COUNT"
	// Kubernetes Indexed Jobs give each pod its index.
	EnvJobCompletionIndex = "JOB_COMPLETION_INDEX"
)
