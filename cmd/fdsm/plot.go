package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/trainer"
)

func newPlotCmd() *cobra.Command {
	var outDir string
	cmd := &cobra.Command{
		Use:   "plot RUN_DIR|METRICS.jsonl",
		Short: "Plot a run's loss and time per step from its metrics log",
		Long: `Reads the metrics log of a training run (RUN_DIR/` + trainer.MetricsFile + `, or the
file given) and writes ` + trainer.LossPlotFile + ` (loss against step, skipped steps marked, log
scale when the loss is positive and spans more than 100x) and ` + trainer.TimePlotFile + `
(milliseconds per step and its parts) into --out, by default the directory of the log.
The plots' paths are printed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			st, err := os.Stat(path)
			if err != nil {
				return fmt.Errorf("plot: %w", err)
			}
			if st.IsDir() {
				path = filepath.Join(path, trainer.MetricsFile)
			}
			ms, err := trainer.ReadMetrics(path)
			if err != nil {
				return err
			}
			if len(ms) == 0 {
				return fmt.Errorf("plot: %s holds no steps", path)
			}
			dir := outDir
			if dir == "" {
				dir = filepath.Dir(path)
			}
			if err := trainer.PlotRun(ms, dir); err != nil {
				return err
			}
			for _, name := range []string{trainer.LossPlotFile, trainer.TimePlotFile} {
				if _, err := fmt.Fprintln(cmd.OutOrStdout(), filepath.Join(dir, name)); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&outDir, "out", "", "directory for the plots, created if missing (default: the directory of the metrics log)")
	return cmd
}
