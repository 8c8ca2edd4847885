package ring_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/collective"
	"github.com/fdsm-go/fdsm/collective/commtest"
	"github.com/fdsm-go/fdsm/collective/ring"
)

func TestRingConformance(t *testing.T) {
	commtest.Run(t, ringGroup(0))
}

// Chunks of 1000 bytes split every large segment into many chunks, and
// float32 segments of odd length into chunks that end mid-float64.
func TestRingConformanceSmallChunks(t *testing.T) {
	commtest.RunSizes(t, ringGroup(1000), 2, 3)
}

// ringGroup builds rings of n ranks, each with its own data plane on
// loopback, as goroutines of this process.
func ringGroup(chunk int) commtest.NewGroup {
	return func(t *testing.T, n int) []collective.Comm {
		addrs := make([]string, n)
		dps := make([]*ring.DataPlane, n)
		for r := range n {
			dp, err := ring.ListenDataPlane("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { dp.Close() })
			dps[r], addrs[r] = dp, dp.Addr()
		}
		comms := make([]collective.Comm, n)
		errs := make([]error, n)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		for r := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				comms[r], errs[r] = ring.New(ctx, dps[r], ring.Config{
					Job: "conformance", Generation: 1, Rank: r, Addrs: addrs,
					Timeout: 20 * time.Second, ChunkBytes: chunk, Log: zerolog.Nop(),
				})
			}()
		}
		wg.Wait()
		for r, err := range errs {
			if err != nil {
				t.Fatalf("New rank %d: %v", r, err)
			}
		}
		t.Cleanup(func() {
			for _, c := range comms {
				c.Close()
			}
		})
		return comms
	}
}
