package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/cluster"
	"github.com/fdsm-go/fdsm/study"
)

func newStudyControlCmd() *cobra.Command {
	var members, timing, plotPath string
	var asJSON bool
	var dilate float64
	cmd := &cobra.Command{
		Use:   "control",
		Short: "Gossip membership and rendezvous with many members, all in this process: time to form, agree, detect a crash and regroup",
		Long: `Starts --members members of one job in this process, each a memberlist node
on loopback joining the first, and times four phases until every member has
seen their end: forming (every member lists all), a rendezvous of all of
them, noticing one member's crash (stopped without leaving), and the
survivors' regroup. Each size runs on fresh members. --timing lan is what
real jobs use (cluster.LANTiming), fast the tests' timing.

Every member shares this host's cores, which a real job does not: beyond
about 128 members on two cores the host's CPU, not the protocol, sets the
times. --dilate K runs every interval and timeout K times slower and prints
the measured seconds divided by K, so that K times less CPU a second keeps
the protocol's timing (compare sizes that fit both ways to check it). On two
cores 256 members take about a minute a size undilated; the figures are in
docs/scaling.md.`,
		Example: "  fdsm study control --members 8,32,128 --plot control.png\n  fdsm study control --members 256,512 --dilate 4",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ns, err := parseIntList(members, "job size", 2, 1024)
			if err != nil {
				return usage(fmt.Errorf("--members: %w", err))
			}
			if !(dilate >= 1) || dilate > 100 {
				return usage(fmt.Errorf("--dilate %v: want 1 (none) to 100", dilate))
			}
			o := study.ControlOptions{Members: ns, Dilation: dilate}
			switch timing {
			case "lan":
				o.Timing = cluster.LANTiming()
			case "fast":
				o.Timing = cluster.FastTiming()
			default:
				return usage(fmt.Errorf("--timing %q: want lan or fast", timing))
			}
			if plotPath != "" && !strings.HasSuffix(strings.ToLower(plotPath), ".png") {
				return usage(fmt.Errorf("--plot %s: want a .png file", plotPath))
			}
			log := logger()
			o.Progress = func(n int, phase string) { log.Info().Int("members", n).Str("phase", phase).Msg("study control") }
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rows, err := study.Control(ctx, o)
			res := study.ControlResult{Timing: timing, Dilation: dilate, Rows: rows}
			if len(rows) == 0 {
				return err
			}
			// The sizes that finished are printed and plotted even when a
			// larger one failed.
			if plotPath != "" {
				if perr := study.ControlPlot(res, plotPath); perr != nil && err == nil {
					err = perr
				}
			}
			if perr := printResult(cmd, asJSON, res); perr != nil && err == nil {
				err = perr
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&members, "members", "8,16,32,64,128", "job sizes to study (2 to 1024 each)")
	fl.StringVar(&timing, "timing", "lan", "gossip and failure-detection timing: lan or fast")
	fl.Float64Var(&dilate, "dilate", 1, "run the protocol this many times slower and divide the times by it (many members on few cores)")
	fl.StringVar(&plotPath, "plot", "", "write a PNG plot of the phases against members here")
	fl.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
