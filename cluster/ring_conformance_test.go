package cluster_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/cluster"
	"github.com/fdsm-go/fdsm/cluster/commtest"
)

// The conformance suite lives in package commtest, which imports cluster, so
// its runs are in this external test package.

func TestLocalCommsConformance(t *testing.T) {
	commtest.Run(t, func(t *testing.T, n int) []cluster.Comm {
		comms := cluster.NewLocalComms(n, 20*time.Second)
		t.Cleanup(func() {
			for _, c := range comms {
				c.Close()
			}
		})
		return comms
	})
}

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
	return func(t *testing.T, n int) []cluster.Comm {
		addrs := make([]string, n)
		dps := make([]*cluster.DataPlane, n)
		for r := range n {
			dp, err := cluster.ListenDataPlane("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { dp.Close() })
			dps[r], addrs[r] = dp, dp.Addr()
		}
		comms := make([]cluster.Comm, n)
		errs := make([]error, n)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		for r := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				comms[r], errs[r] = cluster.NewRing(ctx, dps[r], cluster.RingConfig{
					Job: "conformance", Generation: 1, Rank: r, Addrs: addrs,
					Timeout: 20 * time.Second, ChunkBytes: chunk, Log: zerolog.Nop(),
				})
			}()
		}
		wg.Wait()
		for r, err := range errs {
			if err != nil {
				t.Fatalf("NewRing rank %d: %v", r, err)
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
