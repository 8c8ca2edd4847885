package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fdsm-go/fdsm/device"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/collective"
	"github.com/fdsm-go/fdsm/collective/ring"
	"github.com/fdsm-go/fdsm/tensor"
)

// The all-reduce benchmark runs the TCP ring in separate processes on
// loopback, as a job on one host would, and puts its bus bandwidth next to
// the throughput of one plain TCP stream between two processes of the same
// binary, measured in the same run.
//
// Bandwidths follow nccl-tests: algbw = bytes / time; busbw = algbw ·
// 2(n-1)/n, the bytes each rank actually sends per unit time, which is what
// compares with a link's (here loopback's) throughput.
//
// Workers are processes of a command that calls AllReduceWorker (`fdsm bench
// allreduce-worker`); they learn their role from the environment and meet
// through files in a temporary directory. Unless GOMAXPROCS is set, each of
// np workers gets GOMAXPROCS = CPUs/np (at least 1), as a launcher dividing a
// host among its workers would (torchrun sets OMP_NUM_THREADS=1 for the same
// reason): on a small host, np processes each spinning up CPUs-many threads
// measured 10-20% slower.

// AllReduceOptions size the all-reduce benchmark. Zero values take defaults.
type AllReduceOptions struct {
	NP         []int         // process counts; default 2 and 4
	Sizes      []int         // buffer sizes in bytes (float32 elements); default 1KiB to 64MiB
	Rounds     int           // timed rounds per size, the median reported; default 5
	ChunkBytes int           // ring chunk; 0 = ring.DefaultChunkBytes
	Timeout    time.Duration // collective timeout in the workers; default 2 minutes
	// LoopbackBytes is how much the loopback baseline sends per round;
	// default 256 MiB.
	LoopbackBytes int
	// Device holds each worker's buffer ("" or "cpu": host memory). A
	// device buffer goes through host copies around every ring all-reduce,
	// as the DDP reducer's buckets do with the host ring.
	Device string
	// Worker is the command line of a process that calls AllReduceWorker.
	Worker []string
	// Progress, if set, is told what is being measured.
	Progress func(msg string)
}

// DefaultAllReduceSizes are the buffer sizes measured by default.
var DefaultAllReduceSizes = []int{1 << 10, 64 << 10, 1 << 20, 16 << 20, 64 << 20}

func (o AllReduceOptions) withDefaults() AllReduceOptions {
	if len(o.NP) == 0 {
		o.NP = []int{2, 4}
	}
	if len(o.Sizes) == 0 {
		o.Sizes = DefaultAllReduceSizes
	}
	if o.Rounds <= 0 {
		o.Rounds = 5
	}
	if o.ChunkBytes <= 0 {
		o.ChunkBytes = ring.DefaultChunkBytes
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.LoopbackBytes <= 0 {
		o.LoopbackBytes = 256 << 20
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	return o
}

// AllReduceRow is one (process count, size) measurement.
type AllReduceRow struct {
	NP    int     `json:"np"`
	Bytes int     `json:"bytes"`
	Ms    float64 `json:"ms"`        // median time of one all-reduce
	AlgBW float64 `json:"algbw_gbs"` // bytes / time, GB/s (1e9)
	BusBW float64 `json:"busbw_gbs"` // algbw · 2(np-1)/np
	// GOMAXPROCS is each worker's.
	GOMAXPROCS int `json:"gomaxprocs"`
	// BusOverLoopback is busbw over the loopback baseline.
	BusOverLoopback float64 `json:"busbw_over_loopback"`
	// CPUBusy is the share of the machine's CPUs the ranks kept busy in
	// the timed rounds (1: every CPU all the time).
	CPUBusy float64 `json:"cpu_busy"`
	// CPUBoundBusBW is the most busbw the machine's CPUs allow at the
	// loopback baseline's CPU cost per byte (see addRingCPU), and
	// BusOverCPUBound the measured busbw over it.
	CPUBoundBusBW   float64 `json:"cpu_bound_busbw_gbs"`
	BusOverCPUBound float64 `json:"busbw_over_cpu_bound"`
}

// AllReduceResult is the benchmark's outcome (JSON as `fdsm bench allreduce
// --json` prints it).
type AllReduceResult struct {
	Results     []AllReduceRow `json:"results"`
	LoopbackGBs float64        `json:"loopback_gbs"` // one TCP stream between two processes
	// LoopbackCPUPerGB is the CPU seconds sender and receiver spend
	// together per GB of the baseline stream.
	LoopbackCPUPerGB float64 `json:"loopback_cpu_s_per_gb"`
	ChunkBytes       int     `json:"chunk_bytes"`
	Device           string  `json:"device,omitempty"` // where the buffers live ("": host)
	Rounds           int     `json:"rounds"`
	CPUs             int     `json:"cpus"`
}

// String formats the result as a table.
func (r AllReduceResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "all-reduce benchmark: TCP ring on loopback, float32 sum, chunk %s, %d CPUs, median of %d rounds\n",
		formatBytes(r.ChunkBytes), r.CPUs, r.Rounds)
	if r.Device != "" {
		fmt.Fprintf(&b, "buffers on %s, copied to and from the host around each all-reduce\n", r.Device)
	}
	fmt.Fprintf(&b, "loopback baseline (one TCP stream, two processes): %.2f GB/s, %.2f CPU s per GB (sender + receiver)\n",
		r.LoopbackGBs, r.LoopbackCPUPerGB)
	fmt.Fprintf(&b, "%4s %10s %12s %12s %12s %14s %9s %13s %11s\n", "np", "size", "time ms", "algbw GB/s", "busbw GB/s",
		"busbw/loopback", "CPU busy", "busbw/CPU cap", "GOMAXPROCS")
	for _, row := range r.Results {
		fmt.Fprintf(&b, "%4d %10s %12.3f %12.3f %12.3f %14.2f %9.2f %13.2f %11d\n", row.NP, formatBytes(row.Bytes), row.Ms,
			row.AlgBW, row.BusBW, row.BusOverLoopback, row.CPUBusy, row.BusOverCPUBound, row.GOMAXPROCS)
	}
	fmt.Fprintf(&b, "CPU cap: the busbw %d CPUs allow when every byte costs what the baseline's does: CPUs / (np · CPU s per GB)\n", r.CPUs)
	return b.String()
}

func formatBytes(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// ParseSizes parses a comma-separated list of sizes such as "1KiB,64KiB,1MiB"
// (suffixes B, KiB/K, MiB/M, GiB/G; powers of two).
func ParseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		num, mult := f, 1
		for _, suf := range []struct {
			s string
			m int
		}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
			if strings.HasSuffix(f, suf.s) {
				num, mult = strings.TrimSuffix(f, suf.s), suf.m
				break
			}
		}
		v, err := strconv.Atoi(strings.TrimSpace(num))
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("size %q: want a positive number of bytes such as 64KiB", f)
		}
		out = append(out, v*mult)
	}
	if len(out) == 0 {
		return nil, errors.New("no sizes given")
	}
	return out, nil
}

// Environment of a worker process.
const (
	envARRole = "FDSM_BENCH_ALLREDUCE_ROLE" // ring, loopback-send or loopback-recv
	envARDir  = "FDSM_BENCH_ALLREDUCE_DIR"
	envARRank = "FDSM_BENCH_ALLREDUCE_RANK"
)

// arSpec is what the parent tells every worker, through dir/spec.json.
type arSpec struct {
	NP            int           `json:"np"`
	Sizes         []int         `json:"sizes"`
	Rounds        int           `json:"rounds"`
	ChunkBytes    int           `json:"chunk_bytes"`
	Timeout       time.Duration `json:"timeout"`
	LoopbackBytes int           `json:"loopback_bytes"`
	Device        string        `json:"device,omitempty"`
}

// AllReduce runs the benchmark: the loopback baseline, then the ring for
// every process count and size.
func AllReduce(opts AllReduceOptions) (AllReduceResult, error) {
	opts = opts.withDefaults()
	if len(opts.Worker) == 0 {
		return AllReduceResult{}, errors.New("bench allreduce: no worker command")
	}
	for _, np := range opts.NP {
		if np < 1 {
			return AllReduceResult{}, fmt.Errorf("bench allreduce: process count %d", np)
		}
	}
	res := AllReduceResult{ChunkBytes: opts.ChunkBytes, Rounds: opts.Rounds, CPUs: runtime.NumCPU()}
	spec := arSpec{Sizes: opts.Sizes, Rounds: opts.Rounds, ChunkBytes: opts.ChunkBytes, Timeout: opts.Timeout,
		LoopbackBytes: opts.LoopbackBytes, Device: opts.Device}
	res.Device = opts.Device

	opts.Progress("loopback baseline")
	var lb float64
	err := runWorkers(opts.Worker, spec, []string{"loopback-recv", "loopback-send"}, func(dir string) error {
		var recv, send []cpuSpan
		if err := readJSON(cpuFile(dir, "loopback-recv", 0), &recv); err != nil {
			return err
		}
		if err := readJSON(cpuFile(dir, "loopback-send", 1), &send); err != nil { // the sender is rank 1
			return err
		}
		res.LoopbackCPUPerGB = loopbackCPUPerGB(send, recv)
		return readJSON(filepath.Join(dir, "loopback.json"), &lb)
	})
	if err != nil {
		return res, fmt.Errorf("bench allreduce: loopback baseline: %w", err)
	}
	res.LoopbackGBs = lb

	for _, np := range opts.NP {
		opts.Progress(fmt.Sprintf("ring of %d processes", np))
		spec.NP = np
		roles := make([]string, np)
		for i := range roles {
			roles[i] = "ring"
		}
		var rows []AllReduceRow
		err := runWorkers(opts.Worker, spec, roles, func(dir string) error {
			if err := readJSON(filepath.Join(dir, "ring.json"), &rows); err != nil {
				return err
			}
			spans, err := readCPU(dir, "ring", np)
			if err != nil {
				return err
			}
			addRingCPU(rows, spans, res.CPUs, res.LoopbackCPUPerGB)
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("bench allreduce: %d processes: %w", np, err)
		}
		for i := range rows {
			if lb > 0 {
				rows[i].BusOverLoopback = rows[i].BusBW / lb
			}
		}
		res.Results = append(res.Results, rows...)
	}
	return res, nil
}

// runWorkers starts one worker per role (rank = index) sharing a fresh
// directory holding spec, waits for all, and calls collect on the directory.
func runWorkers(worker []string, spec arSpec, roles []string, collect func(dir string) error) error {
	dir, err := os.MkdirTemp("", "fdsm-bench-allreduce-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b, _ := json.Marshal(spec)
	if err := os.WriteFile(filepath.Join(dir, "spec.json"), b, 0o600); err != nil {
		return err
	}
	// Workers bound their own collectives; this only stops a stuck launch.
	limit := 4*spec.Timeout + time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	type outcome struct {
		rank int
		err  error
	}
	done := make(chan outcome, len(roles))
	stderr := make([]*tailBuffer, len(roles))
	for rank, role := range roles {
		cmd := exec.CommandContext(ctx, worker[0], worker[1:]...)
		cmd.Env = append(os.Environ(), envARRole+"="+role, envARDir+"="+dir, envARRank+"="+strconv.Itoa(rank))
		if os.Getenv("GOMAXPROCS") == "" {
			cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(max(1, runtime.NumCPU()/len(roles))))
		}
		stderr[rank] = &tailBuffer{max: 4096}
		cmd.Stderr = stderr[rank]
		if err := cmd.Start(); err != nil {
			cancel()
			return fmt.Errorf("start worker %s: %w", worker[0], err)
		}
		go func() { done <- outcome{rank, cmd.Wait()} }()
	}
	var errs []error
	for range roles {
		o := <-done
		if o.err != nil {
			errs = append(errs, fmt.Errorf("worker %d (%s): %w: %s", o.rank, roles[o.rank], o.err,
				strings.TrimSpace(stderr[o.rank].String())))
			cancel() // one failed: the others would only wait for it
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return collect(dir)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func writeJSONAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// waitFile waits for path to exist and returns its contents.
func waitFile(path string, limit time.Duration) (string, error) {
	deadline := time.Now().Add(limit)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			return string(b), nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s did not appear within %v", filepath.Base(path), limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// IsAllReduceWorker reports whether this process was started as a worker of
// the all-reduce benchmark.
func IsAllReduceWorker() bool { return os.Getenv(envARRole) != "" }

// AllReduceWorker is a worker process's main; it returns the exit code.
// Errors go to stderr, results to files in the shared directory.
func AllReduceWorker() int {
	dir, role := os.Getenv(envARDir), os.Getenv(envARRole)
	rank, _ := strconv.Atoi(os.Getenv(envARRank))
	var spec arSpec
	err := readJSON(filepath.Join(dir, "spec.json"), &spec)
	if err == nil {
		switch role {
		case "ring":
			err = ringWorker(dir, rank, spec)
		case "loopback-recv":
			err = loopbackReceiver(dir, spec)
		case "loopback-send":
			err = loopbackSender(dir, spec)
		default:
			err = fmt.Errorf("unknown role %q", role)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench allreduce worker %s %d: %v\n", role, rank, err)
		return 1
	}
	return 0
}

// ringWorker joins a ring of spec.NP processes and times AllReduce for each
// size; rank 0 writes the rows to ring.json.
func ringWorker(dir string, rank int, spec arSpec) error {
	comm, closeRing, err := joinBenchRing(dir, rank, spec)
	if err != nil {
		return err
	}
	defer closeRing()
	var dev tensor.Backend // nil: the buffers are host memory
	if spec.Device != "" && spec.Device != "cpu" {
		if dev, err = device.Open(spec.Device); err != nil {
			return err
		}
	}
	var rows []AllReduceRow
	var spans []cpuSpan
	for _, size := range spec.Sizes {
		row, span, err := timeAllReduce(comm, dev, max(1, size/4), spec)
		if err != nil {
			return err
		}
		rows, spans = append(rows, row), append(spans, span)
	}
	if err := writeJSONAtomic(cpuFile(dir, "ring", rank), spans); err != nil {
		return err
	}
	if rank == 0 {
		return writeJSONAtomic(filepath.Join(dir, "ring.json"), rows)
	}
	return nil
}

// joinBenchRing publishes this worker's data-plane address in dir, waits
// for the others' and connects the ring.
func joinBenchRing(dir string, rank int, spec arSpec) (collective.Comm, func(), error) {
	dp, err := ring.ListenDataPlane("127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	if err := writeJSONAtomic(filepath.Join(dir, fmt.Sprintf("addr.%d", rank)), dp.Addr()); err != nil {
		dp.Close()
		return nil, nil, err
	}
	addrs := make([]string, spec.NP)
	for r := range addrs {
		s, err := waitFile(filepath.Join(dir, fmt.Sprintf("addr.%d", r)), time.Minute)
		if err == nil {
			err = json.Unmarshal([]byte(s), &addrs[r])
		}
		if err != nil {
			dp.Close()
			return nil, nil, err
		}
	}
	comm, err := ring.New(context.Background(), dp, ring.Config{Job: "bench", Generation: 1, Rank: rank, Addrs: addrs,
		Timeout: spec.Timeout, ChunkBytes: spec.ChunkBytes, Log: zerolog.Nop()})
	if err != nil {
		dp.Close()
		return nil, nil, err
	}
	return comm, func() { comm.Close(); dp.Close() }, nil
}

// timeAllReduce times the float32 sum of count elements: the median over
// spec.Rounds rounds, and the CPU this process spent in them. With dev the
// buffer lives there and goes through the host around each all-reduce.
func timeAllReduce(comm collective.Comm, dev tensor.Backend, count int, spec arSpec) (AllReduceRow, cpuSpan, error) {
	ctx := context.Background()
	buf := tensor.NewHostTensor(tensor.NewCPU(), tensor.Shape{count}, make([]float32, count), nil) // zeros stay zeros
	var dbuf *tensor.Tensor                                                                        // the device's copy, if any
	if dev != nil {
		dbuf = dev.Zeros(tensor.Float32, count)
	}
	// Enough iterations per round that a round moves at least 64 MiB or
	// lasts 200 iterations, so small sizes are not timer noise.
	iters := min(200, max(1, (64<<20)/(4*count)))
	run := func(k int) error {
		for range k {
			if dbuf != nil {
				dev.ReadFloat32s(buf.Float32s(), dbuf)
			}
			if err := comm.AllReduce(ctx, buf, collective.Sum); err != nil {
				return err
			}
			if dbuf != nil {
				dev.WriteFloat32s(dbuf, buf.Float32s())
			}
		}
		if dbuf != nil {
			return dev.Sync()
		}
		return nil
	}
	if err := run(max(2, iters/4)); err != nil { // warm-up: connections, buffers, page faults
		return AllReduceRow{}, cpuSpan{}, err
	}
	times := make([]float64, spec.Rounds)
	meter := startCPU()
	for i := range times {
		if err := comm.Barrier(ctx); err != nil {
			return AllReduceRow{}, cpuSpan{}, err
		}
		start := time.Now()
		if err := run(iters); err != nil {
			return AllReduceRow{}, cpuSpan{}, err
		}
		times[i] = time.Since(start).Seconds() / float64(iters)
	}
	span := meter.stop(4 * count)
	sec, bytes := median(times), 4*count
	algbw := float64(bytes) / sec / 1e9
	return AllReduceRow{NP: spec.NP, Bytes: bytes, Ms: sec * 1e3, AlgBW: algbw,
		BusBW: algbw * 2 * float64(spec.NP-1) / float64(spec.NP), GOMAXPROCS: runtime.GOMAXPROCS(0)}, span, nil
}

// loopbackIO is the read and write size of the baseline stream: large, so
// the baseline is the best a plain stream does.
const loopbackIO = 1 << 20

// loopbackReceiver reads spec.Rounds+1 rounds of LoopbackBytes (the first a
// warm-up) and acknowledges each with one byte.
func loopbackReceiver(dir string, spec arSpec) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := writeJSONAtomic(filepath.Join(dir, "loopback.addr"), ln.Addr().String()); err != nil {
		return err
	}
	if tl, ok := ln.(*net.TCPListener); ok {
		tl.SetDeadline(time.Now().Add(time.Minute))
	}
	conn, err := ln.Accept()
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(spec.Timeout))
	buf := make([]byte, loopbackIO)
	var meter cpuMeter
	for round := range spec.Rounds + 1 {
		if round == 1 {
			meter = startCPU() // after the warm-up, as the sender times
		}
		if _, err := io.CopyBuffer(io.Discard, io.LimitReader(conn, int64(spec.LoopbackBytes)), buf); err != nil {
			return err
		}
		if _, err := conn.Write([]byte{1}); err != nil {
			return err
		}
	}
	return writeJSONAtomic(cpuFile(dir, "loopback-recv", 0), []cpuSpan{meter.stop(0)})
}

// loopbackSender streams to the receiver and writes the median throughput
// to loopback.json.
func loopbackSender(dir string, spec arSpec) error {
	s, err := waitFile(filepath.Join(dir, "loopback.addr"), time.Minute)
	if err != nil {
		return err
	}
	var addr string
	if err := json.Unmarshal([]byte(s), &addr); err != nil {
		return err
	}
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(spec.Timeout))
	buf := make([]byte, loopbackIO)
	var ack [1]byte
	rates := make([]float64, 0, spec.Rounds)
	var meter cpuMeter
	for round := range spec.Rounds + 1 {
		if round == 1 {
			meter = startCPU()
		}
		start := time.Now()
		for left := spec.LoopbackBytes; left > 0; {
			n, err := conn.Write(buf[:min(left, len(buf))])
			if err != nil {
				return err
			}
			left -= n
		}
		if _, err := io.ReadFull(conn, ack[:]); err != nil {
			return err
		}
		if round > 0 {
			rates = append(rates, float64(spec.LoopbackBytes)/time.Since(start).Seconds()/1e9)
		}
	}
	span := meter.stop(0)
	span.Moved = float64(spec.Rounds) * float64(spec.LoopbackBytes)
	if err := writeJSONAtomic(cpuFile(dir, "loopback-send", 1), []cpuSpan{span}); err != nil {
		return err
	}
	return writeJSONAtomic(filepath.Join(dir, "loopback.json"), median(rates))
}
