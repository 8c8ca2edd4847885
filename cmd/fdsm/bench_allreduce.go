package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/bench"
	"github.com/fdsm-go/fdsm/device"
	"github.com/fdsm-go/fdsm/nccl"
)

func newBenchAllReduceCmd() *cobra.Command {
	var opts bench.AllReduceOptions
	var asJSON bool
	var np, sizes, backend string
	cmd := &cobra.Command{
		Use:   "allreduce",
		Short: "Time the TCP ring all-reduce across processes on this host against plain TCP loopback",
		Long: `Starts --np worker processes of this binary per process count, joins them in a
TCP ring on loopback and times AllReduce (float32 sum) for each size: the
median time, algbw = bytes/time and busbw = algbw*2(n-1)/n (GB/s = 1e9 B/s),
the figure comparable with link throughput. The baseline is one plain TCP
stream between two processes of this binary, measured in the same run.
--device D keeps each worker's buffer on D, copied to and from the host
around every all-reduce (as the DDP reducer does with the host ring).

--backend nccl times NCCL on GPU memory instead (busbw as nccl-tests reports
it). It needs libnccl.so.2 (FDSM_NCCL_LIB, the loader's paths, python3's
nvidia/nccl/lib) and the CUDA backend for device buffers, which is not built
yet: today it exits 2 saying which of the two is missing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkAllReduceBackend(backend); err != nil {
				return usage(err)
			}
			if _, err := openDevice(opts.Device); err != nil { // refused here, before any worker starts
				return err
			}
			var err error
			if opts.NP, err = parseCounts(np); err != nil {
				return fmt.Errorf("--np: %w", err)
			}
			if opts.Sizes, err = bench.ParseSizes(sizes); err != nil {
				return fmt.Errorf("--sizes: %w", err)
			}
			if opts.Rounds < 1 {
				return fmt.Errorf("--rounds must be at least 1")
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find this executable to start workers: %w", err)
			}
			opts.Worker = []string{exe, "bench", "allreduce-worker"}
			log := logger()
			opts.Progress = func(msg string) { log.Info().Msg("bench allreduce: " + msg) }
			res, err := bench.AllReduce(opts)
			if err != nil {
				return err
			}
			return printResult(cmd, asJSON, res)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().StringVar(&backend, "backend", "ring", "ring (TCP, host memory) or nccl (GPU memory)")
	addDeviceFlag(cmd, &opts.Device, device.Default)
	cmd.Flags().StringVar(&np, "np", "2,4", "comma-separated process counts")
	cmd.Flags().StringVar(&sizes, "sizes", "1KiB,64KiB,1MiB,16MiB,64MiB", "comma-separated buffer sizes (B, KiB, MiB, GiB)")
	cmd.Flags().IntVar(&opts.Rounds, "rounds", 5, "timed rounds per size (the median is reported)")
	cmd.Flags().IntVar(&opts.ChunkBytes, "chunk", 0, "ring chunk size in bytes (0 = the default)")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 0, "collective timeout in the workers (0 = 2m)")
	return cmd
}

// checkAllReduceBackend accepts ring and refuses nccl with the reason it
// cannot run here: no libnccl.so.2 (the loader's error names every place
// looked at), or no device buffers for it yet.
func checkAllReduceBackend(name string) error {
	switch name {
	case "ring":
		return nil
	case "nccl":
		v, err := nccl.Version()
		if err != nil {
			return fmt.Errorf("--backend nccl: %w", err)
		}
		return fmt.Errorf("--backend nccl: NCCL %s loaded, but its buffers live on a GPU and the CUDA tensor backend is not built yet (issue 16)", v)
	}
	return fmt.Errorf("--backend must be ring or nccl, got %q", name)
}

// newBenchAllReduceWorkerCmd is the hidden entry point of the benchmark's
// worker processes; their role comes from the environment.
func newBenchAllReduceWorkerCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "allreduce-worker",
		Short:  "Worker process of `fdsm bench allreduce` (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !bench.IsAllReduceWorker() {
				return fmt.Errorf("allreduce-worker is started by `fdsm bench allreduce`, not by hand")
			}
			if code := bench.AllReduceWorker(); code != 0 {
				os.Exit(code) // the reason is on stderr already
			}
			return nil
		},
	}
}

func parseCounts(s string) ([]int, error) { return parseIntList(s, "process count", 1, 64) }

// parseIntList parses a comma-separated list of what (e.g. "process
// count"), each between lo and hi.
func parseIntList(s, what string, lo, hi int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v < lo || v > hi {
			return nil, fmt.Errorf("%s %q: want %d to %d", what, f, lo, hi)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %ss given", what)
	}
	return out, nil
}
