// Command fdsm trains energy-based and score-based generative models by
// finite-difference score matching.
package main

import (
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/device"
	"github.com/fdsm-go/fdsm/launch"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/trainer"
)

// exitInterrupted is the status of a command stopped by Ctrl-C (SIGINT) or
// SIGTERM after it saved its work: 128 + SIGINT, as shells report it.
const exitInterrupted = launch.ExitInterrupted

// errInterrupted ends a command that was interrupted and has already said
// so in its log; main exits with exitInterrupted and prints no error line.
var errInterrupted = errors.New("interrupted")

// interrupted returns errInterrupted with cobra's own error line silenced.
func interrupted(cmd *cobra.Command) error {
	cmd.SilenceErrors = true
	return errInterrupted
}

// exitUsage: the command refused its input (bad config, a run directory
// it may not use); running it again unchanged fails the same way. Exit
// codes are documented in docs/training.md ("Exit codes").
const exitUsage = launch.ExitUsage

// usageError marks err as a refusal of the command's input (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usage(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// exitCode maps a command's error to the process status: 0, 1 (a failure
// that a retry may get past), exitUsage or exitInterrupted.
func exitCode(err error) int {
	var u usageError
	var w *launch.WorkerError
	var de *device.Error
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errInterrupted):
		return exitInterrupted
	case errors.As(err, &u), errors.Is(err, trainer.ErrRunExists), errors.Is(err, trainer.ErrCannotResume),
		errors.Is(err, models.ErrNonFinite), errors.As(err, &de): // a device that cannot be opened here (no GPU driver)
		return exitUsage
	case errors.As(err, &w) && w.ExitCode == launch.ExitUsage:
		return exitUsage // a launched worker refused its command
	}
	return 1
}

func main() {
	// Cobra prints the error itself (once); all we add is the exit status.
	os.Exit(exitCode(newRootCmd().Execute()))
}
