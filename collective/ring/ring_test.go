package ring

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/collective"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/tensor"
)

// Ring behaviour the conformance suite (ring_conformance_test.go) does not
// cover: data-plane routing across generations, configured timeouts, ring
// construction failures, and abort reasons travelling between ranks.

func listenPlanes(t *testing.T, n int) ([]*DataPlane, []string) {
	t.Helper()
	dps := make([]*DataPlane, n)
	addrs := make([]string, n)
	for r := range n {
		dp, err := ListenDataPlane("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dp.Close() })
		dps[r], addrs[r] = dp, dp.Addr()
	}
	return dps, addrs
}

// buildRings builds rank r's ring on dps[r] for every r concurrently.
func buildRings(t *testing.T, dps []*DataPlane, cfg Config) ([]collective.Comm, []error) {
	t.Helper()
	n := len(cfg.Addrs)
	comms := make([]collective.Comm, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := cfg
			c.Rank = r
			comms[r], errs[r] = New(context.Background(), dps[r%len(dps)], c)
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range comms {
			if c != nil {
				c.Close()
			}
		}
	})
	return comms, errs
}

func mustRings(t *testing.T, dps []*DataPlane, cfg Config) []collective.Comm {
	t.Helper()
	comms, errs := buildRings(t, dps, cfg)
	for r, err := range errs {
		if err != nil {
			t.Fatalf("New rank %d: %v", r, err)
		}
	}
	return comms
}

func hostF32(vals ...float32) *tensor.Tensor {
	return tensor.NewHostTensor(tensor.NewCPU(), tensor.Shape{len(vals)}, vals, nil)
}

// allReduceOnes sums a buffer of ones on every rank and checks the result.
func allReduceOnes(t *testing.T, comms []collective.Comm) {
	t.Helper()
	errs := make([]error, len(comms))
	bufs := make([]*tensor.Tensor, len(comms))
	var wg sync.WaitGroup
	for r, c := range comms {
		bufs[r] = hostF32(1, 1, 1, 1, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = c.AllReduce(context.Background(), bufs[r], collective.Sum)
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
		for _, v := range bufs[r].Float32s() {
			if v != float32(len(comms)) {
				t.Fatalf("rank %d: sum of ones is %v, want %d", r, bufs[r].Float32s(), len(comms))
			}
		}
	}
}

func TestRingNewGenerationOnSameDataPlanes(t *testing.T) {
	dps, addrs := listenPlanes(t, 3)
	cfg := Config{Job: "j", Generation: 1, Addrs: addrs, Timeout: 10 * time.Second, Log: zerolog.Nop()}
	gen1 := mustRings(t, dps, cfg)
	allReduceOnes(t, gen1)
	gen1[1].Abort(errors.New("a member failed"))
	for _, c := range gen1 {
		c.Close()
	}

	cfg.Generation = 2
	gen2 := mustRings(t, dps, cfg)
	allReduceOnes(t, gen2)

	// A straggler of generation 1 is refused at once, not after its timeout.
	start := time.Now()
	_, err := New(context.Background(), dps[0], Config{Job: "j", Generation: 1, Rank: 2, Addrs: addrs,
		Timeout: 10 * time.Second, Log: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), "stale generation 1") {
		t.Fatalf("New of a stale generation: %v, want a stale-generation refusal", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("stale generation refused after %v", took)
	}
}

func TestRingOneSharedDataPlane(t *testing.T) {
	// Connections are routed by receiving rank, so ranks may share a data
	// plane (as goroutines of one process do here).
	dp, err := ListenDataPlane("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	addrs := []string{dp.Addr(), dp.Addr(), dp.Addr()}
	comms := mustRings(t, []*DataPlane{dp}, Config{Job: "shared", Generation: 7, Addrs: addrs,
		Timeout: 10 * time.Second, Log: zerolog.Nop()})
	allReduceOnes(t, comms)
}

func TestRingConfiguredTimeout(t *testing.T) {
	dps, addrs := listenPlanes(t, 2)
	comms := mustRings(t, dps, Config{Job: "j", Generation: 1, Addrs: addrs,
		Timeout: 300 * time.Millisecond, Log: zerolog.Nop()})
	start := time.Now()
	err := comms[0].AllReduce(context.Background(), hostF32(1, 2, 3), collective.Sum) // rank 1 never calls
	if !errors.Is(err, collective.ErrTimeout) || !strings.Contains(err.Error(), "rank 1") {
		t.Fatalf("AllReduce with a silent peer: %v, want a timeout naming rank 1", err)
	}
	if took := time.Since(start); took < 250*time.Millisecond || took > 8*time.Second {
		t.Fatalf("timed out after %v with a 300ms timeout", took)
	}
	var ce *collective.CollectiveError
	if !errors.As(err, &ce) || ce.Peer != 1 || ce.Rank != 0 {
		t.Fatalf("error %#v: want a collective.CollectiveError of rank 0 with peer 1", err)
	}
	// Rank 1 learns of it: its next collective fails at once.
	if err := comms[1].Barrier(context.Background()); err == nil {
		t.Fatal("rank 1's Barrier succeeded after rank 0 timed out")
	}
}

func TestNewRingPeerMissing(t *testing.T) {
	dps, addrs := listenPlanes(t, 2)
	start := time.Now()
	_, err := New(context.Background(), dps[0], Config{Job: "j", Generation: 1, Rank: 0, Addrs: addrs,
		Timeout: 300 * time.Millisecond, Log: zerolog.Nop()})
	if !errors.Is(err, collective.ErrTimeout) {
		t.Fatalf("New without its peer: %v, want ErrTimeout", err)
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Fatalf("New gave up after %v with a 300ms timeout", took)
	}
	// Its registration is gone: the same generation can be built again.
	mustRings(t, dps, Config{Job: "j", Generation: 1, Addrs: addrs, Timeout: 10 * time.Second, Log: zerolog.Nop()})
}

func TestNewRingBadConfig(t *testing.T) {
	dp, err := ListenDataPlane("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	for _, cfg := range []Config{
		{Rank: 0},
		{Rank: 2, Addrs: []string{"a", "b"}},
		{Rank: -1, Addrs: []string{"a"}},
	} {
		if _, err := New(context.Background(), dp, cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	// A duplicate registration is refused.
	cfg := Config{Job: "j", Generation: 1, Rank: 0, Addrs: []string{dp.Addr(), "127.0.0.1:1"},
		Timeout: 500 * time.Millisecond, Log: zerolog.Nop()}
	done := make(chan error, 1)
	go func() { _, err := New(context.Background(), dp, cfg); done <- err }()
	time.Sleep(20 * time.Millisecond)
	if _, err := New(context.Background(), dp, cfg); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("duplicate New: %v", err)
	}
	<-done
}

func TestDataPlaneRefusesStrangers(t *testing.T) {
	dps, addrs := listenPlanes(t, 2)
	// Garbage, a silent client and a wrong-world hello do not disturb it.
	junk, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	junk.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\nmore bytes to fill a hello"))
	silent, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	comms := mustRings(t, dps, Config{Job: "j", Generation: 1, Addrs: addrs, Timeout: 10 * time.Second, Log: zerolog.Nop()})
	_, code, msg, err := dialOnce(context.Background(), addrs[0], ringHello{job: "j", gen: 1, from: 1, to: 0, world: 3}, nil, time.Second)
	if err != nil || code != replyRefused || !strings.Contains(msg, "world size") {
		t.Fatalf("wrong world size: code %d %q %v, want a refusal", code, msg, err)
	}
	_, code, msg, err = dialOnce(context.Background(), addrs[0], ringHello{job: "j", gen: 1, from: 1, to: 0, world: 2}, nil, time.Second)
	if err != nil || code != replyRefused || !strings.Contains(msg, "already connected") {
		t.Fatalf("duplicate connection: code %d %q %v, want a refusal", code, msg, err)
	}
	var b [1]byte
	junk.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := junk.Read(b[:]); err == nil {
		// The refusal reply may come first; then the close.
		for err == nil {
			_, err = junk.Read(b[:])
		}
	}
	allReduceOnes(t, comms)
	// Close ends the silent client's pending handshake instead of waiting
	// out its handshake timeout.
	start := time.Now()
	dps[0].Close()
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("DataPlane.Close took %v with a silent client connected", took)
	}
}

func TestRingRejectsDeviceTensors(t *testing.T) {
	dps, addrs := listenPlanes(t, 2)
	comms := mustRings(t, dps, Config{Job: "j", Generation: 1, Addrs: addrs, Timeout: 10 * time.Second, Log: zerolog.Nop()})
	dev := tensor.NewDeviceTensor(tensor.NewCPU(), tensor.Float32, tensor.Shape{4}, struct{}{})
	err := comms[0].AllReduce(context.Background(), dev, collective.Sum)
	if err == nil || !strings.Contains(err.Error(), "host tensors") {
		t.Fatalf("AllReduce of a device tensor: %v", err)
	}
	// The argument error aborted the ring so rank 1 does not wait for the
	// timeout, and it says why.
	err = comms[1].AllReduce(context.Background(), hostF32(1, 2, 3, 4), collective.Sum)
	if !errors.Is(err, collective.ErrAborted) && !errors.Is(err, collective.ErrPeerLost) {
		t.Fatalf("rank 1 after rank 0's argument error: %v", err)
	}
}

func TestRingAbortReasonTravelsBack(t *testing.T) {
	dps, addrs := listenPlanes(t, 3)
	comms := mustRings(t, dps, Config{Job: "j", Generation: 1, Addrs: addrs, Timeout: 10 * time.Second, Log: zerolog.Nop()})
	comms[1].Abort(errors.New("disk full"))
	// Rank 0 (rank 1's predecessor) hears the reason while idle.
	deadline := time.Now().Add(5 * time.Second)
	for comms[0].Err() == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	err := comms[0].Err()
	if !errors.Is(err, collective.ErrAborted) || !strings.Contains(err.Error(), "rank 1") || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("rank 0's Err after rank 1 aborted: %v", err)
	}
}

func TestSegments(t *testing.T) {
	for _, tc := range []struct{ count, n int }{{0, 3}, {1, 4}, {3, 4}, {5, 4}, {100003, 4}, {7, 1}} {
		seg := ringSegments(tc.count, tc.n, 4)
		off := 0
		for i, s := range seg {
			if s.off != off || s.n%4 != 0 || s.n/4 < tc.count/tc.n || s.n/4 > tc.count/tc.n+1 {
				t.Fatalf("ringSegments(%d, %d)[%d] = %+v", tc.count, tc.n, i, s)
			}
			off += s.n
		}
		if off != 4*tc.count {
			t.Fatalf("ringSegments(%d, %d) cover %d bytes", tc.count, tc.n, off)
		}
	}
}

// TestRingChannelsShareDataPlanes: a group's gradient ring and control ring
// (channels of one job and generation) connect over the same data planes
// at once, and traffic on one does not reach the other: a concurrent
// all-reduce on each gives each its own sum.
func TestRingChannelsShareDataPlanes(t *testing.T) {
	dps, addrs := listenPlanes(t, 3)
	var grads, control []collective.Comm
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		grads = mustRings(t, dps, Config{Job: "j", Generation: 4, Addrs: addrs, Timeout: 10 * time.Second, Log: zerolog.Nop()})
	}()
	go func() {
		defer wg.Done()
		control = mustRings(t, dps, Config{Job: "j", Generation: 4, Channel: "control", Addrs: addrs, Timeout: 10 * time.Second, Log: zerolog.Nop()})
	}()
	wg.Wait()
	sums := make([][]float32, 6)
	errs := make([]error, 6)
	for i, comms := range [][]collective.Comm{grads, control} {
		for r, c := range comms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := hostF32(float32(1+i), float32(1+i))
				errs[3*i+r] = c.AllReduce(context.Background(), buf, collective.Sum)
				sums[3*i+r] = buf.Float32s()
			}()
		}
	}
	wg.Wait()
	for k, err := range errs {
		want := float32(3 * (1 + k/3))
		if err != nil || sums[k][0] != want || sums[k][1] != want {
			t.Fatalf("ring %d rank %d: %v %v, want %v", k/3, k%3, sums[k], err, want)
		}
	}
}
