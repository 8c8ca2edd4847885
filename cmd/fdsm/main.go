// Command fdsm trains energy-based and score-based generative models by
// finite-difference score matching.
package main

import "os"

func main() {
	// Cobra prints the error itself (once); all we add is the exit status.
	if err := newRootCmd().Execute(); err != nil {
		os.Exit(1)
	}
}
