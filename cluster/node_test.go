package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/bus"
	"github.com/fdsm-go/fdsm/collective"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/tensor"
)

// startTestNodes starts n nodes of one job on loopback: node 0's gossip
// address is the seed; worlds of min..n; the rank 0 embeds the bus on a free
// port.
func startTestNodes(t *testing.T, n, min int, tune ...func(*NodeConfig)) []*Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	job := fmt.Sprintf("node-test-%d", time.Now().UnixNano()%1e6)
	var nodes []*Node
	var seeds []string
	for i := 0; i < n; i++ {
		cfg := NodeConfig{
			Member:     Member{Job: job, Host: "127.0.0.1", NodeRank: 0, LocalRank: i, Incarnation: 1},
			GossipAddr: "127.0.0.1:0", DataAddr: "127.0.0.1:0", Seeds: seeds, Timing: FastTiming(),
			JoinTimeout:       10 * time.Second,
			Rendezvous:        RendezvousConfig{Min: min, Max: n, LastCall: 300 * time.Millisecond, Timeout: 15 * time.Second},
			CollectiveTimeout: 10 * time.Second,
			BusServer:         bus.ServerConfig{Port: -1},
			Log:               zerolog.Nop(),
		}
		for _, f := range tune {
			f(&cfg)
		}
		nd, err := StartNode(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nd.Close() })
		nodes = append(nodes, nd)
		if i == 0 {
			seeds = []string{nd.Membership().Addr()}
		}
	}
	return nodes
}

// formAll runs Form on every node at once and returns the sessions by node.
func formAll(t *testing.T, nodes []*Node) []*Session {
	t.Helper()
	ss := make([]*Session, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, nd := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			ss[i], errs[i] = nd.Form(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return ss
}

// TestNodeFormsRegroupsAfterLeave: three nodes form a group whose ring
// all-reduces correctly and whose bus rank 0 hosts; when one node leaves,
// the survivors' communicator is aborted with ErrPeerLost (no collective
// needed to notice), and they form generation 2 of two ranks.
func TestNodeFormsRegroupsAfterLeave(t *testing.T) {
	nodes := startTestNodes(t, 3, 2)
	ss := formAll(t, nodes)
	gen := ss[0].Group.Generation
	for i, s := range ss {
		if s.Group.Size() != 3 || s.Group.Generation != gen || s.Group.Rank != i {
			t.Fatalf("node %d: %s", i, s.Group)
		}
		if s.Group.BusURL == "" {
			t.Errorf("node %d: no bus URL in the group", i)
		}
	}
	var wg sync.WaitGroup
	for i, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := tensor.NewHostTensor(tensor.DefaultCPU(), tensor.Shape{5}, nil, []float64{1, 2, 3, 4, float64(i)})
			if err := s.Comm.AllReduce(context.Background(), x, collective.Sum); err != nil {
				t.Error(err)
				return
			}
			if got := x.Float64s(); got[0] != 3 || got[4] != 3 {
				t.Errorf("node %d: all-reduce gave %v", i, got)
			}
		}()
	}
	wg.Wait()

	ss[2].Close()
	nodes[2].Close()
	for i := 0; i < 2; i++ {
		deadline := time.Now().Add(10 * time.Second)
		for ss[i].Comm.Err() == nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if err := ss[i].Comm.Err(); !errors.Is(err, collective.ErrPeerLost) && !errors.Is(err, collective.ErrAborted) {
			t.Fatalf("node %d: communicator error after a leave: %v", i, err)
		}
		ss[i].Close()
	}
	ss2 := formAll(t, nodes[:2])
	for i, s := range ss2 {
		if s.Group.Size() != 2 || s.Group.Generation <= gen {
			t.Errorf("node %d after the leave: %s", i, s.Group)
		}
		defer s.Close()
	}
}

// TestNodeGradientCommFromControlRing: with GradientComm set (as NCCL's
// group communicator is), a node connects the control ring, hands it to
// the factory (which may send rank 0's unique id over it, as NCCL's does),
// and the session's gradient communicator is the factory's; losing a
// member aborts it as it aborts a ring.
func TestNodeGradientCommFromControlRing(t *testing.T) {
	grads := collective.NewLocalComms(2, 10*time.Second)
	got := make([]string, 2)
	factory := func(ctx context.Context, control collective.Comm) (collective.Comm, error) {
		b, err := collective.BroadcastBytes(ctx, control, 0, []byte("rank 0's unique id"))
		if err != nil {
			return nil, err
		}
		got[control.Rank()] = string(b)
		return grads[control.Rank()], nil
	}
	nodes := startTestNodes(t, 2, 2, func(c *NodeConfig) { c.GradientComm = factory })
	ss := formAll(t, nodes)
	for r, s := range ss {
		if s.Comm != grads[s.Group.Rank] || got[s.Group.Rank] != "rank 0's unique id" {
			t.Fatalf("node %d: gradient communicator %v, received %q", r, s.Comm, got[s.Group.Rank])
		}
	}
	nodes[1].Close()
	deadline := time.Now().Add(10 * time.Second)
	for grads[ss[0].Group.Rank].Err() == nil {
		if time.Now().After(deadline) {
			t.Fatal("losing a member did not abort the factory's communicator")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
