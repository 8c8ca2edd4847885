package ring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/collective"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/tensor"
)

// Process tests: ranks are child processes (this test binary re-executed in
// the "ring-worker" role) talking over loopback, as in a real job. Each child
// writes its data-plane address to a file in a shared directory and reads
// the others'.

const (
	envRingDir     = "FDSM_RING_TEST_DIR"
	envRingRank    = "FDSM_RING_TEST_RANK"
	envRingSize    = "FDSM_RING_TEST_SIZE"
	envRingMode    = "FDSM_RING_TEST_MODE" // "check" or "loop"
	envRingTimeout = "FDSM_RING_TEST_TIMEOUT"

	// Exit codes of the ring-worker role.
	exitCollectiveFailed = 3 // "loop" mode: a collective failed, as the test intends
	exitWatchdog         = 4 // the worker ran far longer than any test allows
)

func init() {
	testRoles["ring-worker"] = ringWorker
}

// ringWorker is a child process's main: join the ring, then either check a
// series of collectives ("check") or all-reduce until a collective fails
// ("loop", exiting with exitCollectiveFailed).
func ringWorker() int {
	dir := os.Getenv(envRingDir)
	rank, _ := strconv.Atoi(os.Getenv(envRingRank))
	size, _ := strconv.Atoi(os.Getenv(envRingSize))
	timeout, _ := time.ParseDuration(os.Getenv(envRingTimeout))
	// Never outlive the test, whatever goes wrong.
	time.AfterFunc(90*time.Second, func() {
		fmt.Fprintf(os.Stderr, "rank %d: watchdog: still running after 90s\n", rank)
		os.Exit(exitWatchdog)
	})
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "rank %d: %s\n", rank, fmt.Sprintf(format, args...))
		return 1
	}

	dp, err := ListenDataPlane("127.0.0.1:0")
	if err != nil {
		return fail("%v", err)
	}
	defer dp.Close()
	if err := writeRingFile(filepath.Join(dir, fmt.Sprintf("addr.%d", rank)), dp.Addr()); err != nil {
		return fail("%v", err)
	}
	addrs, err := readRingAddrs(dir, size, 30*time.Second)
	if err != nil {
		return fail("%v", err)
	}
	ctx := context.Background()
	comm, err := New(ctx, dp, Config{Job: "proc", Generation: 1, Rank: rank, Addrs: addrs,
		Timeout: timeout, ChunkBytes: 64 << 10, Log: zerolog.Nop()})
	if err != nil {
		return fail("%v", err)
	}
	defer comm.Close()

	if os.Getenv(envRingMode) == "loop" {
		buf := tensor.NewHostTensor(tensor.NewCPU(), tensor.Shape{1 << 20}, make([]float32, 1<<20), nil)
		for i := 0; ; i++ {
			if err := comm.AllReduce(ctx, buf, collective.Sum); err != nil {
				fmt.Fprintf(os.Stderr, "rank %d: collective %d failed: %v\n", rank, i, err)
				return exitCollectiveFailed
			}
			if i == 0 {
				if err := writeRingFile(filepath.Join(dir, fmt.Sprintf("ready.%d", rank)), "ok"); err != nil {
					return fail("%v", err)
				}
			}
		}
	}
	if err := checkCollectives(ctx, comm); err != nil {
		return fail("%v", err)
	}
	return 0
}

// checkCollectives runs collectives whose results every rank can predict:
// each rank's inputs come from a generator seeded with its rank.
func checkCollectives(ctx context.Context, c collective.Comm) error {
	n, rank := c.Size(), c.Rank()
	be := tensor.NewCPU()
	input := func(r, count int) []float32 {
		rng := rand.New(rand.NewPCG(uint64(r), uint64(count)))
		v := make([]float32, count)
		for i := range v {
			v[i] = float32(rng.IntN(201) - 100) // integers: sums are exact in any order
		}
		return v
	}
	for _, count := range []int{0, 1, n - 1, n + 1, 1000, 300007} {
		want := make([]float32, count)
		for r := range n {
			for i, v := range input(r, count) {
				want[i] += v
			}
		}
		buf := tensor.NewHostTensor(be, tensor.Shape{count}, input(rank, count), nil)
		if err := c.AllReduce(ctx, buf, collective.Sum); err != nil {
			return err
		}
		if !slices.Equal(buf.Float32s(), want) {
			return fmt.Errorf("AllReduce sum of %d float32: wrong result", count)
		}
		avg := make([]float64, count)
		for i, v := range input(rank, count) {
			avg[i] = float64(v)
		}
		buf = tensor.NewHostTensor(be, tensor.Shape{count}, nil, avg)
		if err := c.AllReduce(ctx, buf, collective.Average); err != nil {
			return err
		}
		for i, v := range buf.Float64s() {
			if v != float64(want[i])/float64(n) {
				return fmt.Errorf("AllReduce average of %d float64: element %d is %v, want %v", count, i, v, float64(want[i])/float64(n))
			}
		}
		for root := range n {
			buf := tensor.NewHostTensor(be, tensor.Shape{count}, make([]float32, count), nil)
			if rank == root {
				copy(buf.Float32s(), input(root, count))
			}
			if err := c.Broadcast(ctx, buf, root); err != nil {
				return err
			}
			if !slices.Equal(buf.Float32s(), input(root, count)) {
				return fmt.Errorf("Broadcast of %d float32 from %d: wrong result", count, root)
			}
		}
		send := tensor.NewHostTensor(be, tensor.Shape{count}, input(rank, count), nil)
		recv := tensor.NewHostTensor(be, tensor.Shape{n * count}, make([]float32, n*count), nil)
		if err := c.AllGather(ctx, send, recv); err != nil {
			return err
		}
		for r := range n {
			if !slices.Equal(recv.Float32s()[r*count:(r+1)*count], input(r, count)) {
				return fmt.Errorf("AllGather of %d float32: rank %d's block is wrong", count, r)
			}
		}
		if err := c.Barrier(ctx); err != nil {
			return err
		}
	}
	return nil
}

func writeRingFile(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// readRingAddrs waits for every rank's address file.
func readRingAddrs(dir string, n int, wait time.Duration) ([]string, error) {
	deadline := time.Now().Add(wait)
	addrs := make([]string, n)
	for r := 0; r < n; {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("addr.%d", r)))
		if err == nil {
			addrs[r] = string(b)
			r++
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("rank %d's address did not appear within %v", r, wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return addrs, nil
}

// ringProc is one child process of a process test.
type ringProc struct {
	rank   int
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan struct{} // closed when it exited
	err    error         // its Wait error, once done
	exitAt time.Time     // when it exited, once done
}

// startRing starts n ring-worker processes and registers a cleanup that
// kills any still running, failing the test for each that should have
// exited by itself (all but those in mayLinger).
func startRing(t *testing.T, n int, mode string, timeout time.Duration, mayLinger ...int) []*ringProc {
	t.Helper()
	dir := t.TempDir()
	procs := make([]*ringProc, n)
	for r := range n {
		p := &ringProc{rank: r, done: make(chan struct{})}
		p.cmd = exec.Command(os.Args[0], "-test.run=^$")
		p.cmd.Env = append(os.Environ(), envTestRole+"=ring-worker",
			envRingDir+"="+dir, envRingRank+"="+strconv.Itoa(r), envRingSize+"="+strconv.Itoa(n),
			envRingMode+"="+mode, envRingTimeout+"="+timeout.String())
		p.cmd.Stderr = &p.stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			p.err = p.cmd.Wait()
			p.exitAt = time.Now()
			close(p.done)
		}()
		procs[r] = p
	}
	t.Cleanup(func() {
		for _, p := range procs {
			select {
			case <-p.done:
				continue
			default:
			}
			if !slices.Contains(mayLinger, p.rank) {
				t.Errorf("rank %d had to be killed at the end of the test", p.rank)
			}
			p.cmd.Process.Signal(syscall.SIGCONT)
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return procs
}

// waitExit waits for p until limit and returns its exit code (-1 if it is
// still running at the limit).
func (p *ringProc) waitExit(limit time.Duration) int {
	select {
	case <-p.done:
	case <-time.After(limit):
		return -1
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		return -2
	}
	return 0
}

func TestRingProcessesCollectives(t *testing.T) {
	var wg sync.WaitGroup
	for _, n := range []int{1, 2, 3, 4} {
		procs := startRing(t, n, "check", 30*time.Second)
		for _, p := range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if code := p.waitExit(60 * time.Second); code != 0 {
					t.Errorf("%d processes: rank %d exited with %d: %s", n, p.rank, code, p.stderr.String())
				}
			}()
		}
	}
	wg.Wait()
}

// waitReady waits until every worker in loop mode has finished a first
// collective, so the signal lands mid-collective of a running ring.
func waitReady(t *testing.T, procs []*ringProc) {
	t.Helper()
	dir := ""
	for _, kv := range procs[0].cmd.Env {
		if v, ok := strings.CutPrefix(kv, envRingDir+"="); ok {
			dir = v
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range procs {
		for {
			if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("ready.%d", p.rank))); err == nil {
				break
			}
			select {
			case <-p.done:
				t.Fatalf("rank %d exited before the ring ran: %v: %s", p.rank, p.err, p.stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("rank %d not ready after 30s: %s", p.rank, p.stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(50 * time.Millisecond) // well into later collectives
}

// expectSurvivorsFail checks that every rank but victim exits, reporting a
// failed collective, within the collective timeout plus a margin for a
// loaded machine.
func expectSurvivorsFail(t *testing.T, procs []*ringProc, victim int, timeout time.Duration, hit time.Time) {
	t.Helper()
	const margin = 12 * time.Second
	for _, p := range procs {
		if p.rank == victim {
			continue
		}
		code := p.waitExit(time.Until(hit.Add(timeout + margin)))
		t.Logf("rank %d: exit %d %v after the signal: %s", p.rank, code,
			time.Since(hit).Round(time.Millisecond), strings.TrimSpace(p.stderr.String()))
		if code != exitCollectiveFailed {
			t.Errorf("rank %d: exit code %d, want %d (collective failed) within %v of the signal",
				p.rank, code, exitCollectiveFailed, timeout+margin)
		}
	}
}

func TestRingProcessKilled(t *testing.T) {
	const timeout = 3 * time.Second
	procs := startRing(t, 3, "loop", timeout)
	waitReady(t, procs)
	victim := 1
	procs[victim].cmd.Process.Kill() // SIGKILL
	expectSurvivorsFail(t, procs, victim, timeout, time.Now())
	// Reaping the killed process is asynchronous: wait for it rather than
	// let the cleanup mistake it for a hung one.
	select {
	case <-procs[victim].done:
	case <-time.After(10 * time.Second):
		t.Errorf("rank %d still running 10 s after SIGKILL", victim)
	}
}

func TestRingProcessStopped(t *testing.T) {
	const timeout = 3 * time.Second
	victim := 2
	procs := startRing(t, 4, "loop", timeout, victim)
	waitReady(t, procs)
	procs[victim].cmd.Process.Signal(syscall.SIGSTOP)
	hit := time.Now()
	expectSurvivorsFail(t, procs, victim, timeout, hit)
	for _, p := range procs {
		if p.rank == victim {
			continue
		}
		if after := p.exitAt.Sub(hit); after < timeout/2 {
			t.Errorf("rank %d failed %v after a peer froze, before the %v timeout could have passed",
				p.rank, after, timeout)
		}
	}
}
