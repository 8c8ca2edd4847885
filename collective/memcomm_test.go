package collective_test

import (
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/collective"
	"github.com/fdsm-go/fdsm/collective/commtest"
)

// The conformance suite lives in package commtest, which imports
// collective, so its runs are in this external test package.

func TestLocalCommsConformance(t *testing.T) {
	commtest.Run(t, func(t *testing.T, n int) []collective.Comm {
		comms := collective.NewLocalComms(n, 20*time.Second)
		t.Cleanup(func() {
			for _, c := range comms {
				c.Close()
			}
		})
		return comms
	})
}
