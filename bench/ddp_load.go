package bench

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// loadMeter measures the CPU time the machine spent on work other than this
// process and its children (the workers, once they were waited for) over a
// span, from /proc (Linux; elsewhere it reports 0). Times are in USER_HZ
// ticks, 100 a second on Linux.
type loadMeter struct {
	start         time.Time
	machine, ours int64
	ok            bool
}

func startLoadMeter() loadMeter {
	m, o, ok := cpuTicks()
	return loadMeter{start: time.Now(), machine: m, ours: o, ok: ok}
}

// others returns the average number of cores busy with other work since
// the meter started.
func (l loadMeter) others() float64 {
	m, o, ok := cpuTicks()
	wall := time.Since(l.start).Seconds()
	if !ok || !l.ok || wall <= 0 {
		return 0
	}
	return max(0, float64((m-l.machine)-(o-l.ours))/100/wall)
}

// cpuTicks returns the machine's busy CPU time (steal included: time the
// hypervisor ran other machines on our cores) and this process's own plus
// its waited-for children's.
func cpuTicks() (machine, ours int64, ok bool) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, false
	}
	// user nice system idle iowait irq softirq steal: all but idle and iowait.
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, 0, false
		}
		machine += v
	}
	self, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, 0, false
	}
	// Fields after the command name (which may hold spaces): state is the
	// 3rd field; utime, stime, cutime and cstime the 14th to 17th.
	i := strings.LastIndexByte(string(self), ')')
	if i < 0 {
		return 0, 0, false
	}
	g := strings.Fields(string(self[i+1:]))
	if len(g) < 15 {
		return 0, 0, false
	}
	for _, j := range []int{11, 12, 13, 14} {
		v, err := strconv.ParseInt(g[j], 10, 64)
		if err != nil {
			return 0, 0, false
		}
		ours += v
	}
	return machine, ours, true
}
