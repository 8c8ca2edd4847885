package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/bus"
	"github.com/fdsm-go/fdsm/cluster"
	"github.com/fdsm-go/fdsm/collective"
	"github.com/fdsm-go/fdsm/device"
	"github.com/fdsm-go/fdsm/nccl"
	"github.com/fdsm-go/fdsm/tensor/cuda"
	"github.com/fdsm-go/fdsm/trainer"
)

// runDistributed is `fdsm train` as a member of a job started by `fdsm
// launch` (or a pod spec): it joins the job, trains data-parallel, and
// regroups after a lost member (trainer.Elastic). Rank 0 of each group
// writes checkpoints, metrics and, at the end, plots and samples.
// natsURL (--nats-url) overrides FDSM_NATS_URL: the job's control bus is that
// server instead of one embedded by rank 0.
func runDistributed(cmd *cobra.Command, cfg trainer.Config, o trainOpts) error {
	out, log := o.out, logger()
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	nc, resume, err := distNodeConfig(cfg, o)
	if err != nil {
		return err
	}
	node, err := cluster.StartNode(ctx, nc)
	if err != nil {
		return err
	}
	defer node.Close()
	job := nc.Member.Job

	exp, stopServe, err := serveMetrics(o.metricsAddr, log)
	if err != nil {
		return err
	}
	defer stopServe()
	metrics := newMetricsLog(out) // written by whoever is rank 0
	defer metrics.close()
	el := distElastic(cfg, o, node, job, resume, metrics, exp)
	log.Info().Str("out", out).Str("job", job).Str("objective", cfg.Objective.Name).Interface("model", cfg.Model["kind"]).
		Str("data", cfg.Data.Source()).Int("steps", cfg.Steps).Msg("training (data parallel)")
	sum, err := el.Train(ctx)
	if err := trainOutcome(cmd, sum, err, metrics.close()); err != nil {
		return err
	}
	if sum.Rank != 0 || sum.Model == nil {
		log.Info().Int("steps", sum.Steps).Int("rank", sum.Rank).Msg("done")
		return nil
	}
	return finishRun(cmd, cfg, sum, metrics.path, out)
}

// distNodeConfig is this worker's node configuration: from the launcher's
// environment (checked before the output directory is made), with the bus
// URL and control secret of the run, and the
// gradient communicator of cfg's device. It also says whether to resume:
// a restarted worker rejoins a run in progress (or one that finished
// while it was down), never starts over.
func distNodeConfig(cfg trainer.Config, o trainOpts) (cluster.NodeConfig, bool, error) {
	log := logger()
	nc, err := cluster.NodeConfigFromEnv()
	if err != nil {
		return nc, false, err
	}
	nc.Log = *log
	resume := o.resume
	if rc := os.Getenv(cluster.EnvRestartCount); rc != "" && rc != "0" {
		resume = true
	}
	if o.bus.url != "" {
		nc.NATSURL = o.bus.url
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return nc, false, fmt.Errorf("output directory: %w", err)
	}
	if len(nc.Bus.ControlSecret) == 0 && !nc.NoBus {
		// Commands need a secret; a shared run directory gives every rank
		// (and `fdsm ctl --secret-file`) the same one.
		if nc.Bus.ControlSecret, _, err = bus.LoadOrCreateControlSecret(o.out); err != nil {
			log.Warn().Err(err).Msg("no control secret: operator commands disabled")
		}
	}
	if nc.GradientComm, err = gradientComm(cfg, nc.CollectiveTimeout); err != nil {
		return nc, false, err
	}
	return nc, resume, nil
}

// distElastic wires the elastic trainer to the node: metrics to the run's
// log, the Prometheus exporter and the bus; checkpoints and group events
// to the bus; operator commands from it.
func distElastic(cfg trainer.Config, o trainOpts, node *cluster.Node, job string, resume bool,
	metrics *metricsLog, exp *trainer.Exporter) trainer.Elastic {
	log := logger()
	publish := func(ev bus.Event) {
		if b := node.Bus(); b != nil {
			ev.Job = job
			b.PublishEvent(ev)
		}
	}
	run := trainer.Run{Config: cfg, Dir: o.out, Resume: resume, ResumeFinite: o.resumeFinite, Log: *log, PollCommand: node.PollCommand,
		OnStep: func(m trainer.StepMetrics) {
			metrics.write(m)
			exp.Observe(m)
			if m.Step%100 == 0 || m.Step == cfg.Steps {
				log.Info().Int("step", m.Step).Float64("loss", m.Loss).Float64("step_ms", m.StepMs).Msg("train")
			}
		},
		OnCheckpoint: func(step int, path string) {
			publish(bus.Event{Kind: bus.EventCheckpoint, Step: step, Time: time.Now(), Detail: map[string]string{"path": path}})
		},
	}
	dist := cfg.DDP.Distributed()
	dist.OnStep = func(d trainer.DistStepMetrics) {
		if b := node.Bus(); b != nil {
			b.PublishMetrics(busMetrics(job, d, time.Now()))
		}
	}
	return trainer.Elastic{Run: run, Former: node, OnEvent: publish, Dist: dist}
}

// gradientComm is the factory of each group's gradient communicator: NCCL
// on the rank's GPU for a cuda device (the unique id travels over the
// group's control ring), nil (the TCP ring) otherwise.
func gradientComm(cfg trainer.Config, timeout time.Duration) (func(context.Context, collective.Comm) (collective.Comm, error), error) {
	if !strings.HasPrefix(cfg.Device, "cuda") {
		return nil, nil
	}
	be, err := device.Open(cfg.Device)
	if err != nil {
		return nil, err
	}
	gpu, ok := be.(*cuda.Backend)
	if !ok {
		return nil, fmt.Errorf("device %s is not a CUDA backend", cfg.Device)
	}
	return func(ctx context.Context, control collective.Comm) (collective.Comm, error) {
		return nccl.NewGroupComm(ctx, gpu, control, timeout)
	}, nil
}
