// Command fdsm trains energy-based and score-based generative models by
// finite-difference score matching.
package main

import (
	"errors"
	"os"

	"github.com/spf13/cobra"
)

// exitInterrupted is the status of a command stopped by Ctrl-C (SIGINT) or
// SIGTERM after it saved its work: 128 + SIGINT, as shells report it.
const exitInterrupted = 130

// errInterrupted ends a command that was interrupted and has already said
// so in its log; main exits with exitInterrupted and prints no error line.
var errInterrupted = errors.New("interrupted")

// interrupted returns errInterrupted with cobra's own error line silenced.
func interrupted(cmd *cobra.Command) error {
	cmd.SilenceErrors = true
	return errInterrupted
}

func main() {
	// Cobra prints the error itself (once); all we add is the exit status.
	if err := newRootCmd().Execute(); err != nil {
		if errors.Is(err, errInterrupted) {
			os.Exit(exitInterrupted)
		}
		os.Exit(1)
	}
}
