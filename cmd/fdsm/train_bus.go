package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/bus"
	"github.com/fdsm-go/fdsm/trainer"
)

// busFlags attach a single-process run to the control bus, so `fdsm watch`
// and `fdsm ctl` work with it as with a launched job.
type busFlags struct {
	embed bool   // --bus: embed a server (loopback, port 4222 or any free one)
	url   string // --nats-url: an existing server
	job   string
}

func (f busFlags) enabled() bool { return f.embed || f.url != "" }

// singleBus is a single-process run's bus connection: it publishes the
// run's steps and events as rank 0 of a world of 1 and remembers the latest
// authenticated command for the training loop to poll.
type singleBus struct {
	server   *bus.Server
	bus      *bus.Client
	job      string
	commands bus.CommandBox
}

func startSingleBus(ctx context.Context, f busFlags, out string, log zerolog.Logger) (*singleBus, error) {
	if err := bus.ValidateJobName(f.job); err != nil {
		return nil, fmt.Errorf("--job: %w", err)
	}
	sb := &singleBus{job: f.job}
	url := f.url
	token := os.Getenv(bus.EnvNATSToken)
	if url == "" {
		srv, err := bus.StartServer(bus.ServerConfig{Port: bus.DefaultPort, Token: token, Log: log})
		if err != nil {
			log.Warn().Err(err).Int("port", bus.DefaultPort).Msg("default control bus port busy; using a free port")
			if srv, err = bus.StartServer(bus.ServerConfig{Port: -1, Token: token, Log: log}); err != nil {
				return nil, err
			}
		}
		sb.server, url = srv, srv.ClientURL()
	}
	secret, path, err := bus.LoadOrCreateControlSecret(out)
	if err != nil {
		sb.close()
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	b, err := bus.Connect(cctx, bus.Config{URL: url, Job: f.job, Rank: 0, Token: token,
		NKeySeedFile: os.Getenv(bus.EnvNATSNKeySeed), ControlSecret: secret, Name: "fdsm-train", Log: log})
	if err != nil {
		sb.close()
		return nil, err
	}
	sb.bus = b
	if err := b.OnCommand(func(c bus.Command) { sb.commands.Put(c.Kind) }); err != nil {
		sb.close()
		return nil, err
	}
	log.Info().Str("url", url).Str("job", f.job).Str("secret", path).
		Msg("control bus: fdsm watch --job " + f.job + " --nats-url " + url)
	return sb, nil
}

func (sb *singleBus) poll() string { return sb.commands.Take() }

func (sb *singleBus) step(m trainer.StepMetrics) {
	sb.bus.PublishMetrics(busMetrics(sb.job, m.Dist(), m.Time))
}

// busMetrics is the one conversion of a rank's step telemetry to the
// bus's message, for single processes and data-parallel ranks.
func busMetrics(job string, d trainer.DistStepMetrics, at time.Time) bus.StepMetrics {
	var arrival int64
	if !d.Arrival.IsZero() {
		arrival = d.Arrival.UnixNano()
	}
	return bus.StepMetrics{Job: job, Rank: d.Rank, World: d.World, Generation: d.Generation,
		Step: d.Step, Time: at, StepMs: d.StepMs, DataWaitMs: d.DataWaitMs, ComputeMs: d.ComputeMs,
		CollectiveWaitMs: d.CollectiveWaitMs, ArrivalUnixNano: arrival, Loss: d.Loss, SamplesPerSec: d.SamplesPerSec}
}

func (sb *singleBus) event(kind string, step int, detail map[string]string) {
	sb.bus.PublishEvent(bus.Event{Job: sb.job, Kind: kind, World: 1, Step: step, Time: time.Now(), Detail: detail})
}

func (sb *singleBus) close() {
	if sb.bus != nil {
		sb.bus.Close()
	}
	if sb.server != nil {
		sb.server.Shutdown()
	}
}
