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
	out, resume, metricsAddr, natsURL := o.out, o.resume, o.metricsAddr, o.bus.url
	log := logger()
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	nc, err := cluster.NodeConfigFromEnv()
	if err != nil {
		return err
	}
	nc.Log = *log
	if rc := os.Getenv(cluster.EnvRestartCount); rc != "" && rc != "0" {
		// A restarted worker rejoins a run in progress (or one that
		// finished while it was down): it resumes, never starts over.
		resume = true
	}
	if natsURL != "" {
		nc.NATSURL = natsURL
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	if len(nc.Bus.ControlSecret) == 0 && !nc.NoBus {
		// Commands need a secret; a shared run directory gives every rank
		// (and `fdsm ctl --secret-file`) the same one.
		if nc.Bus.ControlSecret, _, err = bus.LoadOrCreateControlSecret(out); err != nil {
			log.Warn().Err(err).Msg("no control secret: operator commands disabled")
		}
	}
	if nc.GradientComm, err = gradientComm(cfg, nc.CollectiveTimeout); err != nil {
		return err
	}
	node, err := cluster.StartNode(ctx, nc)
	if err != nil {
		return err
	}
	defer node.Close()
	job := nc.Member.Job

	exp, stopServe, err := serveMetrics(metricsAddr, log)
	if err != nil {
		return err
	}
	defer stopServe()
	metrics := newMetricsLog(out) // written by whoever is rank 0
	defer metrics.close()
	publish := func(ev bus.Event) {
		if b := node.Bus(); b != nil {
			ev.Job = job
			b.PublishEvent(ev)
		}
	}
	run := trainer.Run{Config: cfg, Dir: out, Resume: resume, ResumeFinite: o.resumeFinite, Log: *log, PollCommand: node.PollCommand,
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
	el := trainer.Elastic{Run: run, Former: node, OnEvent: publish, Dist: dist}
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
