package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/bus"
	"github.com/fdsm-go/fdsm/launch"
)

func newLaunchCmd() *cobra.Command {
	var (
		cfg      = launch.Config{}
		nnodes   string
		gossip   int
		natsURL  string
		insecure bool
	)
	cmd := &cobra.Command{
		Use:   "launch [flags] -- <fdsm command> [args]",
		Short: "Start this node's workers of a (multi-process, multi-node) job, like torchrun",
		Long: "launch starts --nproc-per-node fdsm workers on this node, each running the given fdsm\n" +
			"command with its place in the job in the environment (RANK, LOCAL_RANK, WORLD_SIZE,\n" +
			"LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT as torchrun sets them, plus FDSM_*).\n" +
			"Each worker writes to its own log file; SIGINT/SIGTERM are forwarded to the workers\n" +
			"(a second one kills them); a failed worker is restarted up to --max-restarts times,\n" +
			"after which the others are stopped and the failed worker's last log lines shown.\n" +
			"Workers share this node's CPUs: each gets GOMAXPROCS = CPUs / --nproc-per-node\n" +
			"(at least 1) unless GOMAXPROCS is set here or with --env.\n\n" +
			"For train, the console shows one progress line for the job (from rank 0's\n" +
			"<out>/metrics.jsonl; logged every 30 s where stderr is not a terminal) and a\n" +
			"summary at the end. The config's batch is per worker: the global batch is\n" +
			"batch x world size x accumulate, for the configured steps and learning rate.\n" +
			"After Ctrl-C the workers checkpoint and stop, and launch exits 130.\n\n" +
			"Static jobs give --nnodes N and --node-rank R (or JOB_COMPLETION_INDEX, as in a\n" +
			"Kubernetes Indexed Job); elastic jobs give --nnodes MIN:MAX or --min-nodes/--max-nodes,\n" +
			"and workers learn their rank at rendezvous. Jobs on several nodes need --job and --seeds.\n" +
			"Under Kubeflow (PET_*) or in an srun task (one per node), flags left out come from\n" +
			"their variables; see docs/distributed.md, \"Environment\".",
		Example: "  fdsm launch --nproc-per-node 4 -- train --config mnist.yaml --out runs/mnist\n" +
			"  fdsm launch --nproc-per-node 8 --nnodes 2 --node-rank 0 --job exp1 --seeds node0:7946 -- train ...\n" +
			"  fdsm launch --nproc-per-node 8 --nnodes 1:4 --job exp2 --seeds fdsm-0.fdsm:7946 -- train ...",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("missing the fdsm command to run: put it after --, " +
					"e.g. fdsm launch --nproc-per-node 2 -- train --config job.yaml")
			}
			if args[0] == "launch" {
				return errors.New("the workers' command cannot be launch itself: give the fdsm command " +
					"each worker runs, e.g. train")
			}
			if err := parseNNodes(nnodes, cmd.Flags().Changed("min-nodes") || cmd.Flags().Changed("max-nodes"),
				&cfg); err != nil {
				return err
			}
			// Flags left alone take what another launcher's variables give
			// (PET_NPROC_PER_NODE, the port of PET_MASTER_PORT: jobenv).
			if !cmd.Flags().Changed("nproc-per-node") {
				cfg.NProcPerNode = launch.AutoNProcPerNode
			}
			switch {
			case !cmd.Flags().Changed("gossip-port"):
				cfg.GossipPortBase = 0
			case gossip == 0:
				cfg.GossipPortBase = launch.AnyPort
			case gossip < 0:
				return fmt.Errorf("--gossip-port %d is negative", gossip)
			default:
				cfg.GossipPortBase = gossip
			}
			if insecure {
				cfg.Env = append(cfg.Env, bus.EnvInsecure+"=1")
			}
			if natsURL != "" {
				cfg.Env = append(cfg.Env, bus.EnvNATSURL+"="+natsURL)
			}
			cfg.Command = args
			cfg.Log = *logger()
			// The failed worker's log tail goes where the progress line is
			// drawn, so it lands above the line, not in it.
			cfg.Stdout, cfg.Stderr = cmd.OutOrStdout(), stderrFor(cmd.ErrOrStderr())

			plan, err := launch.NewPlan(cfg)
			if err != nil {
				return err
			}
			return runLaunch(cmd, plan)
		},
	}
	// Everything after the first positional argument belongs to the workers'
	// command, with or without --.
	cmd.Flags().SetInterspersed(false)

	f := cmd.Flags()
	f.IntVar(&cfg.NProcPerNode, "nproc-per-node", 1,
		"workers started on this node (one per device); default PET_NPROC_PER_NODE, else 1")
	f.StringVar(&nnodes, "nnodes", "",
		"nodes in the job: N (static), or MIN:MAX (elastic); default PET_NNODES, the srun step's nodes, else 1")
	f.IntVar(&cfg.NodeRank, "node-rank", launch.UnknownNodeRank,
		"this node's rank in [0, nnodes); default JOB_COMPLETION_INDEX, PET_NODE_RANK or SLURM_NODEID, else 0 on a single node")
	f.IntVar(&cfg.MinNodes, "min-nodes", 0, "elastic: fewest nodes the job runs with")
	f.IntVar(&cfg.MaxNodes, "max-nodes", 0, "elastic: most nodes the job takes")
	f.StringSliceVar(&cfg.Seeds, "seeds", nil,
		"gossip seeds, host[:port], comma-separated (default FDSM_SEEDS, PET_MASTER_ADDR:PET_MASTER_PORT, the srun step's first node; on one node, this node's worker 0)")
	f.StringVar(&cfg.Job, "job", "",
		"job id shared by all nodes (default FDSM_JOB, PET_RDZV_ID, slurm-<job>-<step> under srun, else a fresh id on one node)")
	f.StringVar(&cfg.Host, "host", "", "host name or address advertised to peers (default FDSM_HOST, POD_IP, hostname)")
	f.StringVar(&cfg.DataHost, "data-host", "", "address of the collective data plane (default --host)")
	f.IntVar(&gossip, "gossip-port", launch.DefaultGossipPort,
		"gossip port of worker 0; worker i uses port+i (0: a distinct free port each, below the ephemeral range; default PET_MASTER_PORT when the seed is Kubeflow's master)")
	f.StringVar(&cfg.LogDir, "log-dir", "",
		"directory of the per-worker logs (default <--out>/logs, else ./fdsm-logs/<job>)")
	f.BoolVar(&cfg.Tee, "tee", false, "also echo local worker 0's output here, prefixed")
	f.IntVar(&cfg.MaxRestarts, "max-restarts", launch.AutoRestarts,
		"restarts allowed per worker after a failure (-1: "+strconv.Itoa(launch.DefaultElasticRestarts)+
			" when elastic, 0 when static)")
	f.DurationVar(&cfg.RestartDelay, "restart-delay", launch.DefaultRestartDelay, "pause before restarting a worker")
	f.DurationVar(&cfg.Grace, "grace", launch.DefaultGrace, "time workers get to exit after SIGTERM before SIGKILL")
	f.IntVar(&cfg.GPUsPerWorker, "gpus-per-worker", 0,
		"set CUDA_VISIBLE_DEVICES to this many devices per worker (0: leave it; workers use LOCAL_RANK)")
	f.StringVar(&natsURL, "nats-url", "", "the job's control bus (a NATS URL); default: rank 0 embeds one (sets FDSM_NATS_URL)")
	f.BoolVar(&insecure, "insecure", false, "let workers listen beyond loopback without the job secret and the bus without a token (sets "+bus.EnvInsecure+"=1)")
	f.StringArrayVar(&cfg.Env, "env", nil,
		"extra KEY=VALUE for every worker (repeatable; e.g. GOMAXPROCS=4 replaces the default CPUs/nproc-per-node)")
	return cmd
}

// parseNNodes reads --nnodes N or MIN:MAX into cfg; MIN:MAX conflicts with
// --min-nodes/--max-nodes.
func parseNNodes(s string, minMaxGiven bool, cfg *launch.Config) error {
	if s == "" {
		return nil
	}
	lo, hi, elastic := strings.Cut(s, ":")
	a, errA := strconv.Atoi(lo)
	b, errB := strconv.Atoi(hi)
	switch {
	case !elastic && errA == nil:
		cfg.NNodes = a
		return nil // a conflict with --min/--max-nodes is NewPlan's to report
	case elastic && errA == nil && errB == nil:
		if minMaxGiven {
			return fmt.Errorf("--nnodes %s conflicts with --min-nodes/--max-nodes: give the range once", s)
		}
		if a < 1 {
			return fmt.Errorf("--nnodes %s: the minimum must be at least 1", s)
		}
		cfg.MinNodes, cfg.MaxNodes = a, b
		return nil
	}
	return fmt.Errorf("--nnodes %q: want N or MIN:MAX", s)
}

// runLaunch runs the plan with the job's progress on the console and a
// summary at the end. A job the user interrupted, whose workers all stopped
// cleanly (exit 0, or 130 after checkpointing), exits 130 with no error line.
func runLaunch(cmd *cobra.Command, plan *launch.Plan) error {
	log := logger()
	job, watch := startJobWatch(cmd, plan, *log)
	printPlan(cmd, plan, job)

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	plan.Config.Signals = sigs
	rep, err := plan.RunReport(cmd.Context())

	sum := launchSummary{job: plan.Config.Job, err: err, rep: rep, train: job, logDir: plan.Config.LogDir,
		stopped: errors.Is(err, launch.ErrStopped)}
	if watch != nil {
		sum.prog = watch.end(err == nil, sum.outcome())
	}
	sum.write(stderrFor(cmd.ErrOrStderr()))
	if sum.stopped && rep.StoppedCleanly() {
		return interrupted(cmd)
	}
	return err
}

// startJobWatch follows the job's progress when the workers run train and
// its config can be read (for the total steps); otherwise there is no
// progress line, only the summary. It must run before the workers start,
// so that only their steps count.
func startJobWatch(cmd *cobra.Command, plan *launch.Plan, log zerolog.Logger) (*launchedTrain, *jobWatch) {
	job, ok, err := trainJob(plan.Config.Command)
	if !ok {
		return nil, nil
	}
	if err != nil {
		log.Warn().Err(err).Msg("no progress line: cannot read the train command's config (the workers will say why)")
		return nil, nil
	}
	tail, err := launch.NewMetricsTail(job.metricsPath())
	if err != nil {
		log.Warn().Err(err).Msg("no progress line")
		return &job, nil
	}
	// --tee echoes worker 0's lines to the same terminal, which would break
	// a drawn line: progress is logged instead.
	draw := !plan.Config.Tee
	return &job, watchJob(stderrFor(cmd.ErrOrStderr()), tail, job.cfg.Steps, draw, log, launchPollEvery)
}

// printPlan tells the user where each worker stands and where its log is.
func printPlan(cmd *cobra.Command, p *launch.Plan, job *launchedTrain) {
	c := p.Config
	w := cmd.ErrOrStderr()
	kind := fmt.Sprintf("node %d of %d", c.NodeRank, c.NNodes)
	if p.Elastic {
		kind = fmt.Sprintf("elastic, %d to %d nodes", c.MinNodes, c.MaxNodes)
		if c.NodeRank >= 0 {
			kind += fmt.Sprintf(", node %d", c.NodeRank)
		}
	}
	restarts := "no restarts"
	if c.MaxRestarts > 0 {
		restarts = fmt.Sprintf("up to %d restarts each", c.MaxRestarts)
	}
	fmt.Fprintf(w, "fdsm launch: job %s (%s), %d workers here, %s; seeds %s\n",
		c.Job, kind, len(p.Workers), restarts, strings.Join(c.Seeds, ","))
	for _, wk := range p.Workers {
		rank := "rank at rendezvous"
		if wk.Rank >= 0 {
			rank = "rank " + strconv.Itoa(wk.Rank)
		}
		dev := ""
		if wk.Devices != "" {
			dev = ", CUDA_VISIBLE_DEVICES=" + wk.Devices
		}
		fmt.Fprintf(w, "  worker %d: %s, gossip %s%s, log %s\n", wk.LocalRank, rank, wk.GossipAddr, dev, wk.LogFile)
	}
	if job != nil {
		fmt.Fprintf(w, "  %s; progress from %s\n", job.batchLine(p.MinWorld, p.MaxWorld), job.metricsPath())
	}
	if p.GeneratedSecret() {
		if path, err := p.WriteSecret(); err != nil {
			logger().Warn().Err(err).Msg("the job secret could not be kept: fdsm watch will not reach the job's bus")
		} else {
			fmt.Fprintf(w, "  job secret: made for this job (data plane, gossip, bus), in %s; watch with: fdsm watch --job %s --job-secret-file %s\n",
				path, c.Job, path)
		}
	}
}
