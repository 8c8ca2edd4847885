package main

import (
	"github.com/spf13/cobra"
)

// newRootCmd builds the fdsm command tree. It holds no global state beyond the
// logger installed by its PersistentPreRunE, so tests can build a fresh tree,
// set its args and output writers, and execute it in-process.
func newRootCmd() *cobra.Command {
	// Run every ancestor's persistent hooks, not only the nearest one, so the
	// logger is set up even for subcommands that add their own
	// PersistentPreRunE.
	cobra.EnableTraverseRunHooks = true

	var logOpts logOptions

	root := &cobra.Command{
		Use:   "fdsm",
		Short: "Train energy-based and score-based generative models by finite-difference score matching",
		Long: "fdsm trains energy-based and score-based generative models by finite-difference\n" +
			"score matching (Pang et al.), which writes score-matching objectives as finite\n" +
			"differences of log-density evaluations.",
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			// The command line parsed, so usage has been shown for bad flags
			// and unknown commands already; from here on errors are about
			// values or happen at run time, where a usage dump only buries
			// the message.
			cmd.SilenceUsage = true
			return setupLogger(cmd.ErrOrStderr(), logOpts)
		},
		// A Run on the root makes `fdsm --log-level bogus` validate its flags
		// instead of silently printing help.
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	// A flag cobra cannot parse is refused input (exit 2), as in every
	// subcommand (cobra hands subcommands the root's function).
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usage(err) })

	pf := root.PersistentFlags()
	pf.StringVar(&logOpts.level, "log-level", "info", "log level: "+joinNames(logLevelNames))
	pf.StringVar(&logOpts.format, "log-format", "auto",
		"log format: auto (console on a terminal, JSON otherwise), json or console")

	// ---- Subcommands: register new ones here, one line each. ----
	root.AddCommand(
		newVersionCmd(),
		newDevicesCmd(),
		newBenchCmd(),
		newDataCmd(),
		newTrainCmd(),
		newEvalCmd(),
		newSampleCmd(),
		newObjectiveCmd(),
		newPlotCmd(),
		newLaunchCmd(),
		newWatchCmd(),
		newCtlCmd(),
		newStudyCmd(),
	)
	// ---- end of subcommands ----

	return root
}
