package bench

import (
	"fmt"
	"path/filepath"
	"syscall"
	"time"
)

// Where the all-reduce's time goes on a small machine: every byte a ring
// rank sends is copied into the kernel by its sender and out by its
// receiver, as in the loopback baseline, and n ranks share the machine's
// CPUs. So the workers account the CPU time they spend in the timed
// rounds (getrusage), and the result sets the ring's bus bandwidth beside
// the most that the machine's CPUs allow at the baseline's CPU cost per
// byte.

// cpuSpan is one worker's CPU and wall time over the timed rounds of one
// size (Bytes 0: the loopback baseline).
type cpuSpan struct {
	Bytes int     `json:"bytes"`
	CPU   float64 `json:"cpu_s"`  // user + system seconds of this process
	Wall  float64 `json:"wall_s"` // elapsed seconds
	Moved float64 `json:"moved"`  // bytes streamed by this process (loopback sender)
}

// cpuSeconds returns this process's user + system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	sec := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return sec(ru.Utime) + sec(ru.Stime)
}

// cpuMeter measures one span.
type cpuMeter struct {
	cpu   float64
	start time.Time
}

func startCPU() cpuMeter { return cpuMeter{cpuSeconds(), time.Now()} }

func (m cpuMeter) stop(bytes int) cpuSpan {
	return cpuSpan{Bytes: bytes, CPU: cpuSeconds() - m.cpu, Wall: time.Since(m.start).Seconds()}
}

func cpuFile(dir, role string, rank int) string {
	return filepath.Join(dir, fmt.Sprintf("cpu.%s.%d.json", role, rank))
}

// readCPU reads the spans of n workers of role.
func readCPU(dir, role string, n int) ([][]cpuSpan, error) {
	out := make([][]cpuSpan, n)
	for r := range out {
		if err := readJSON(cpuFile(dir, role, r), &out[r]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// loopbackCPUPerGB is the CPU seconds that sender and receiver together
// spend per GB streamed.
func loopbackCPUPerGB(send, recv []cpuSpan) float64 {
	if len(send) == 0 || len(recv) == 0 || send[0].Moved == 0 {
		return 0
	}
	return (send[0].CPU + recv[0].CPU) / (send[0].Moved / 1e9)
}

// addRingCPU fills each row's CPU figures from the ranks' spans: the share
// of the machine's CPUs busy during the timed rounds, and the bus
// bandwidth the CPUs allow: an all-reduce streams 2(n-1)·S bytes in all,
// each costing c CPU seconds per byte as in the baseline, so on P CPUs it
// takes at least 2(n-1)·S·c/P, a busbw of at most P/(n·c).
func addRingCPU(rows []AllReduceRow, spans [][]cpuSpan, cpus int, lbCPUPerGB float64) {
	for i := range rows {
		total, wall := 0.0, 0.0
		for r := range spans {
			if i < len(spans[r]) {
				total += spans[r][i].CPU
				wall = max(wall, spans[r][i].Wall)
			}
		}
		if wall > 0 {
			rows[i].CPUBusy = total / wall / float64(cpus)
		}
		if lbCPUPerGB > 0 {
			rows[i].CPUBoundBusBW = float64(cpus) / (float64(rows[i].NP) * lbCPUPerGB)
			rows[i].BusOverCPUBound = rows[i].BusBW / rows[i].CPUBoundBusBW
		}
	}
}
