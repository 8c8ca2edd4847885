package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/bus"
)

func newCtlCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ctl",
		Short: "Send a command (checkpoint, stop) to a running job",
		Long: `Sends a command to every rank of a job over its control bus. Commands are signed
with the job's control secret; ranks obey only signed, fresh commands they have
not seen before, and refuse (and report) anything else. A local run keeps its
secret in RUN_DIR/` + bus.ControlSecretFile + `; pass it with --secret-file, or set ` + bus.EnvControlSecret + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newCtlKindCmd(bus.CommandCheckpoint, "Ask the job to write a checkpoint at the next step boundary"),
		newCtlKindCmd(bus.CommandStop, "Ask the job to checkpoint and stop cleanly"),
	)
	return cmd
}

func newCtlKindCmd(kind, short string) *cobra.Command {
	var (
		bc         busClientFlags
		secretFile string
		wait       time.Duration
	)
	cmd := &cobra.Command{
		Use:   kind + " --job JOB",
		Short: short,
		Long: short + `.

Waits up to --wait for rank 0 to acknowledge the command (0: send and exit).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			secret, err := ctlSecret(secretFile)
			if err != nil {
				return err
			}
			host, _ := os.Hostname()
			cfg, err := bc.config(fmt.Sprintf("fdsm ctl %s@%s", os.Getenv("USER"), host))
			if err != nil {
				return err
			}
			cfg.ControlSecret = secret
			ctx, stop := busCommandContext(cmd)
			defer stop()
			b, err := bc.connect(ctx, cfg)
			if err != nil {
				return fmt.Errorf("ctl %s: %w", kind, err)
			}
			defer b.Close()

			// Listen before sending, so the acknowledgement cannot be missed.
			acks := make(chan bus.Event, 16)
			if wait > 0 {
				err := b.SubscribeEvents(func(e bus.Event) {
					if e.Kind == bus.EventCommandAccepted || e.Kind == bus.EventCommandRefused {
						select {
						case acks <- e:
						default:
						}
					}
				})
				if err != nil {
					return fmt.Errorf("ctl %s: %w", kind, err)
				}
			}
			sent, err := b.SendCommand(kind)
			if err != nil {
				return fmt.Errorf("ctl %s: %w", kind, err)
			}
			out := cmd.OutOrStdout()
			if wait <= 0 {
				_, err := fmt.Fprintf(out, "sent %s to job %s\n", kind, cfg.Job)
				return err
			}
			timeout := time.After(wait)
			for {
				select {
				case e := <-acks:
					if e.Detail["nonce"] != sent.Nonce {
						continue
					}
					if e.Kind == bus.EventCommandRefused {
						return fmt.Errorf("job %s refused the %s command: %s", cfg.Job, kind, e.Reason)
					}
					_, err := fmt.Fprintf(out, "job %s accepted the %s command\n", cfg.Job, kind)
					return err
				case <-timeout:
					return fmt.Errorf("sent %s to job %s, but no rank acknowledged it within %s: "+
						"is the job running, with this --job, on %s?", kind, cfg.Job, wait, cfg.URL)
				case <-ctx.Done():
					return fmt.Errorf("sent %s to job %s; interrupted while waiting for its acknowledgement", kind, cfg.Job)
				}
			}
		},
	}
	bc.register(cmd)
	f := cmd.Flags()
	f.StringVar(&secretFile, "secret-file", "",
		"file holding the job's control secret (default $"+bus.EnvControlSecret+")")
	f.DurationVar(&wait, "wait", 10*time.Second, "how long to wait for the job's acknowledgement (0: do not wait)")
	return cmd
}

// ctlSecret loads the control secret from --secret-file or the environment.
func ctlSecret(file string) ([]byte, error) {
	if file != "" {
		return bus.LoadControlSecret(file)
	}
	s, err := bus.ControlSecretFromEnv()
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("no control secret: pass --secret-file (a local run keeps it in RUN_DIR/%s) or set %s",
			bus.ControlSecretFile, bus.EnvControlSecret)
	}
	return s, nil
}
