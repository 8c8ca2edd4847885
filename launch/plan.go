package launch

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/fdsm-go/fdsm/cluster"
	"github.com/fdsm-go/fdsm/jobenv"
)

// WorkerSpec is one worker slot of this node. A slot keeps its spec across
// restarts; only the restart count changes.
type WorkerSpec struct {
	LocalRank  int
	Rank       int    // global rank of a static job; -1 when elastic (set at rendezvous)
	GossipAddr string // memberlist bind address, host:port (port 0: any)
	DataAddr   string // data-plane bind address, host:0
	LogFile    string // absolute path
	Devices    string // CUDA_VISIBLE_DEVICES, "" when left alone
}

// Plan is a validated Config with every default resolved, and the worker
// slots it describes. Fields are read-only after NewPlan.
type Plan struct {
	Config   Config // resolved: Job, Host, Seeds, LogDir, Executable... all set
	Elastic  bool
	MinWorld int // processes: MinNodes*NProcPerNode (static: NNodes*NProcPerNode)
	MaxWorld int
	Workers  []WorkerSpec

	baseEnv []string
	// secret is the job secret this launcher made for its workers (the
	// environment had none and the job is on this node alone); "" when the
	// environment provides one or the job spans nodes.
	secret string
}

var jobIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// NewPlan validates cfg and resolves its defaults. Errors name the offending
// flag or variable. It may bind and close a TCP port to pick a free gossip
// port (AnyPort on a single node without seeds).
func NewPlan(cfg Config) (*Plan, error) {
	p := &Plan{baseEnv: cfg.BaseEnv}
	if p.baseEnv == nil {
		p.baseEnv = os.Environ()
	}
	if len(cfg.Command) == 0 {
		return nil, errors.New("missing the command to run: put the fdsm arguments after --, " +
			"e.g. fdsm launch --nproc-per-node 2 -- train --config job.yaml")
	}
	in, err := jobenv.ResolveNode(jobenv.List(p.baseEnv))
	if err != nil {
		return nil, fmt.Errorf("the launcher's environment: %w", err)
	}
	if err := resolveNProc(&cfg, in); err != nil {
		return nil, err
	}
	if err := p.resolveNodes(&cfg, in); err != nil {
		return nil, err
	}
	if err := p.resolveIdentity(&cfg, in); err != nil {
		return nil, err
	}
	gossipPorts, err := p.resolveSeeds(&cfg, in)
	if err != nil {
		return nil, err
	}
	if err := p.resolveProcess(&cfg); err != nil {
		return nil, err
	}
	devices, err := p.deviceLists(cfg)
	if err != nil {
		return nil, err
	}
	if err := p.resolveSecret(&cfg); err != nil {
		return nil, err
	}
	p.Config = cfg
	n := cfg.NProcPerNode
	for i := range n {
		w := WorkerSpec{
			LocalRank:  i,
			Rank:       -1,
			GossipAddr: net.JoinHostPort(cfg.Host, strconv.Itoa(gossipPorts[i])),
			DataAddr:   net.JoinHostPort(cfg.DataHost, "0"),
			LogFile:    filepath.Join(cfg.LogDir, logFileName(cfg.NodeRank, cfg.Host, i)),
		}
		if !p.Elastic {
			w.Rank = cfg.NodeRank*n + i
		}
		if devices != nil {
			w.Devices = devices[i]
		}
		p.Workers = append(p.Workers, w)
	}
	return p, nil
}

// resolveSecret makes a job secret when none is given (FDSM_JOB_SECRET in
// the environment or --env) and the job runs on this node alone, so that its
// data plane, gossip and bus are the job's only. A job on several nodes needs
// the same secret on each: the user exports it (a launcher cannot agree on
// one with its peers before they are authenticated).
func (p *Plan) resolveSecret(cfg *Config) error {
	if _, ok := lookupEnv(p.baseEnv, jobenv.JobSecret); ok {
		return nil
	}
	if _, ok := lookupEnv(cfg.Env, jobenv.JobSecret); ok || multiNode(cfg, p.Elastic) {
		return nil
	}
	s, err := cluster.NewJobSecret()
	if err != nil {
		return err
	}
	p.secret = s
	return nil
}

// GeneratedSecret reports whether the launcher made the job secret (and
// hands it to its workers).
func (p *Plan) GeneratedSecret() bool { return p.secret != "" }

// WriteSecret keeps the secret the launcher made in the log directory,
// readable by the user alone, so that fdsm watch can reach the job's bus
// (--job-secret-file); it returns the file's path.
func (p *Plan) WriteSecret() (string, error) {
	if p.secret == "" {
		return "", errors.New("launch: no job secret was made (one was given)")
	}
	if err := os.MkdirAll(p.Config.LogDir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(p.Config.LogDir, cluster.JobSecretFileName)
	if err := os.WriteFile(path, []byte(p.secret+"\n"), 0o600); err != nil {
		return "", err
	}
	return path, os.Chmod(path, 0o600) // an existing file keeps its mode otherwise
}

// resolveNProc settles the workers on this node: the flag, else
// PET_NPROC_PER_NODE, else 1.
func resolveNProc(cfg *Config, in jobenv.Node) error {
	if cfg.NProcPerNode == AutoNProcPerNode {
		if in.NProcPerNodeErr != nil {
			return in.NProcPerNodeErr
		}
		cfg.NProcPerNode = max(in.NProcPerNode, 1)
	}
	if cfg.NProcPerNode < 1 {
		return fmt.Errorf("--nproc-per-node must be at least 1 (got %d)", cfg.NProcPerNode)
	}
	return nil
}

// resolveNodes settles static versus elastic, the node counts and this
// node's rank; what the flags leave open comes from the environment.
func (p *Plan) resolveNodes(cfg *Config, in jobenv.Node) error {
	if cfg.NNodes < 0 || cfg.MinNodes < 0 || cfg.MaxNodes < 0 {
		return fmt.Errorf("node counts must not be negative (--nnodes %d, --min-nodes %d, --max-nodes %d)",
			cfg.NNodes, cfg.MinNodes, cfg.MaxNodes)
	}
	if cfg.NNodes == 0 && cfg.MinNodes == 0 && cfg.MaxNodes == 0 {
		if in.Elastic {
			cfg.MinNodes, cfg.MaxNodes = in.MinNodes, in.MaxNodes
		} else {
			cfg.NNodes = in.MaxNodes
		}
	}
	p.Elastic = cfg.MinNodes > 0 || cfg.MaxNodes > 0
	if p.Elastic {
		if cfg.NNodes > 0 {
			return fmt.Errorf("--nnodes %d conflicts with --min-nodes/--max-nodes: give a fixed node count "+
				"or an elastic range, not both", cfg.NNodes)
		}
		if cfg.MinNodes == 0 {
			cfg.MinNodes = 1
		}
		if cfg.MaxNodes == 0 {
			cfg.MaxNodes = cfg.MinNodes
		}
		if cfg.MinNodes > cfg.MaxNodes {
			return fmt.Errorf("--min-nodes %d is larger than --max-nodes %d", cfg.MinNodes, cfg.MaxNodes)
		}
		p.MinWorld, p.MaxWorld = cfg.MinNodes*cfg.NProcPerNode, cfg.MaxNodes*cfg.NProcPerNode
	} else {
		if cfg.NNodes == 0 {
			cfg.NNodes = 1
		}
		p.MinWorld = cfg.NNodes * cfg.NProcPerNode
		p.MaxWorld = p.MinWorld
	}

	maxNodes := cfg.NNodes
	if p.Elastic {
		maxNodes = cfg.MaxNodes
	}
	if cfg.NodeRank < UnknownNodeRank {
		return fmt.Errorf("--node-rank %d is negative", cfg.NodeRank)
	}
	if cfg.NodeRank == UnknownNodeRank {
		switch {
		case in.NodeRank >= 0:
			cfg.NodeRank = in.NodeRank
		case maxNodes == 1:
			cfg.NodeRank = 0
		case !p.Elastic:
			return fmt.Errorf("node rank unknown for a job of %d nodes: pass --node-rank or set %s "+
				"(Kubernetes Indexed Jobs do) or %s, or run one launcher per node under srun",
				cfg.NNodes, jobenv.JobCompletionIndex, jobenv.PetNodeRank)
		}
	}
	if cfg.NodeRank >= maxNodes {
		return fmt.Errorf("node rank %d is outside [0, %d): the job has at most %d nodes",
			cfg.NodeRank, maxNodes, maxNodes)
	}
	return nil
}

// multiNode reports whether the job may span several nodes.
func multiNode(cfg *Config, elastic bool) bool {
	if elastic {
		return cfg.MaxNodes > 1
	}
	return cfg.NNodes > 1
}

// resolveIdentity settles the job id and the advertised hosts.
func (p *Plan) resolveIdentity(cfg *Config, in jobenv.Node) error {
	if cfg.Job == "" {
		cfg.Job = in.Job
	}
	if cfg.Job == "" {
		if multiNode(cfg, p.Elastic) {
			return fmt.Errorf("a job id is required when the job may span several nodes, since all nodes "+
				"must agree on it: pass --job or set %s", jobenv.Job)
		}
		cfg.Job = newJobID()
	}
	if !jobIDPattern.MatchString(cfg.Job) {
		return fmt.Errorf("job id %q: use 1 to 64 letters, digits, '-' or '_' (it is part of gossip "+
			"names and bus subjects)", cfg.Job)
	}

	if cfg.Host == "" {
		cfg.Host = in.Host
	}
	if cfg.Host == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("find the host name to advertise (pass --host): %w", err)
		}
		cfg.Host = h
	}
	if err := checkHost(cfg.Host); err != nil {
		return fmt.Errorf("--host: %w", err)
	}
	if cfg.DataHost == "" {
		cfg.DataHost = cfg.Host
	}
	if err := checkHost(cfg.DataHost); err != nil {
		return fmt.Errorf("--data-host: %w", err)
	}
	return nil
}

// resolveSeeds settles the gossip ports of this node's workers and the seed
// list, and returns the ports by local rank. Seeds from another launcher's
// master name the port that node 0's first worker must bind: it becomes the
// gossip base unless the flag sets one.
func (p *Plan) resolveSeeds(cfg *Config, in jobenv.Node) ([]int, error) {
	raw := cfg.Seeds
	base := cfg.GossipPortBase
	if len(raw) == 0 {
		raw = in.Seeds
		if base == 0 && in.SeedPort > 0 {
			base = in.SeedPort
		}
	}
	switch {
	case base == 0:
		base = DefaultGossipPort
	case base == AnyPort:
	case base < 0 || base+cfg.NProcPerNode-1 > 65535:
		return nil, fmt.Errorf("--gossip-port %d: workers need ports %d..%d, outside 1..65535",
			base, base, base+cfg.NProcPerNode-1)
	}
	cfg.GossipPortBase = base
	ports := make([]int, cfg.NProcPerNode)
	if base != AnyPort {
		for i := range ports {
			ports[i] = base + i
		}
	}
	seedPort := base
	if base == AnyPort {
		seedPort = DefaultGossipPort
	}

	seeds, err := parseSeeds(raw, seedPort)
	if err != nil {
		return nil, err
	}
	if len(seeds) == 0 {
		if multiNode(cfg, p.Elastic) {
			return nil, fmt.Errorf("--seeds is required when the job may span several nodes: give the "+
				"gossip address of a worker every node can reach, e.g. node0:7946 (or set %s)", jobenv.Seeds)
		}
		if base == AnyPort {
			// Worker 0 is the seed, so its port must be known now; every
			// worker gets a distinct port picked here, because a worker
			// binding port 0 could be handed worker 0's before it binds.
			used := map[int]bool{}
			for i := range ports {
				for ports[i] == 0 {
					port, err := freePort()
					if err != nil {
						return nil, fmt.Errorf("pick a gossip port for worker %d: %w", i, err)
					}
					if !used[port] {
						used[port], ports[i] = true, port
					}
				}
			}
		}
		seeds = []string{net.JoinHostPort(cfg.Host, strconv.Itoa(ports[0]))}
	}
	cfg.Seeds = seeds
	return ports, nil
}

// resolveProcess settles the executable, log directory, restart policy and
// timings.
func (p *Plan) resolveProcess(cfg *Config) error {
	if cfg.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the fdsm executable for the workers: %w", err)
		}
		cfg.Executable = exe
	}
	if cfg.LogDir == "" {
		if out := flagValue(cfg.Command, "out"); out != "" {
			cfg.LogDir = filepath.Join(out, "logs")
		} else {
			cfg.LogDir = filepath.Join("fdsm-logs", cfg.Job)
		}
	}
	dir, err := filepath.Abs(cfg.LogDir)
	if err != nil {
		return fmt.Errorf("log directory %s: %w", cfg.LogDir, err)
	}
	cfg.LogDir = dir

	switch {
	case cfg.MaxRestarts == AutoRestarts && p.Elastic:
		cfg.MaxRestarts = DefaultElasticRestarts
	case cfg.MaxRestarts == AutoRestarts:
		cfg.MaxRestarts = 0
	case cfg.MaxRestarts < 0:
		return fmt.Errorf("--max-restarts %d is negative", cfg.MaxRestarts)
	}
	if cfg.Grace < 0 || cfg.RestartDelay < 0 {
		return fmt.Errorf("--grace %v and --restart-delay %v must not be negative", cfg.Grace, cfg.RestartDelay)
	}
	if cfg.Grace == 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.RestartDelay == 0 {
		cfg.RestartDelay = DefaultRestartDelay
	}
	if cfg.TailLines <= 0 {
		cfg.TailLines = DefaultTailLines
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	for _, kv := range cfg.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("worker environment entry %q is not KEY=VALUE", kv)
		}
	}
	return nil
}

// deviceLists returns each worker's CUDA_VISIBLE_DEVICES, or nil when the
// launcher leaves the variable alone.
func (p *Plan) deviceLists(cfg Config) ([]string, error) {
	g := cfg.GPUsPerWorker
	if g < 0 {
		return nil, fmt.Errorf("--gpus-per-worker %d is negative", g)
	}
	if g == 0 {
		return nil, nil
	}
	need := g * cfg.NProcPerNode
	var avail []string
	if v, ok := lookupEnv(p.baseEnv, jobenv.CUDAVisibleDevices); ok && strings.TrimSpace(v) != "" {
		for d := range strings.SplitSeq(v, ",") {
			avail = append(avail, strings.TrimSpace(d))
		}
		if len(avail) < need {
			return nil, fmt.Errorf("%d workers x %d GPUs need %d devices, but %s=%q lists %d",
				cfg.NProcPerNode, g, need, jobenv.CUDAVisibleDevices, v, len(avail))
		}
	} else {
		for d := range need {
			avail = append(avail, strconv.Itoa(d))
		}
	}
	out := make([]string, cfg.NProcPerNode)
	for i := range out {
		out[i] = strings.Join(avail[i*g:(i+1)*g], ",")
	}
	return out, nil
}
