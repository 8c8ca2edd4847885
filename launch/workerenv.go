package launch

import (
	"net"
	"runtime"
	"strconv"
	"strings"

	"github.com/fdsm-go/fdsm/jobenv"
)

// workerGOMAXPROCS is the share of the CPUs each of n workers gets: n Go
// processes each running a thread per core on the same cores fight over
// them (torchrun sets OMP_NUM_THREADS=1 for the same reason). The CPUs are
// the launcher's own GOMAXPROCS: the CPU count, or the container's CPU
// limit, which Go's default follows.
func workerGOMAXPROCS(n int) int { return max(1, runtime.GOMAXPROCS(0)/max(1, n)) }

// Env returns the environment of the worker in slot local after restarts
// restarts: the base environment, minus every variable the launcher manages,
// plus this worker's values, plus Config.Env. Unless the base environment or
// Config.Env sets GOMAXPROCS, each worker gets GOMAXPROCS = CPUs /
// NProcPerNode (at least 1).
//
// Panics if local is not a slot of the plan.
func (p *Plan) Env(local, restarts int) []string {
	cfg := &p.Config
	w := p.Workers[local]
	masterHost, masterPort, _ := net.SplitHostPort(cfg.Seeds[0])
	set := [][2]string{
		{jobenv.Job, cfg.Job},
		{jobenv.Seeds, strings.Join(p.seedsFor(), ",")},
		{jobenv.Host, cfg.Host},
		{jobenv.NodeRank, strconv.Itoa(cfg.NodeRank)},
		{jobenv.LocalRank, strconv.Itoa(local)},
		{jobenv.LocalWorldSize, strconv.Itoa(cfg.NProcPerNode)},
		{jobenv.MinWorld, strconv.Itoa(p.MinWorld)},
		{jobenv.MaxWorld, strconv.Itoa(p.MaxWorld)},
		{jobenv.GossipAddr, w.GossipAddr},
		{jobenv.DataAddr, w.DataAddr},
		{jobenv.RestartCount, strconv.Itoa(restarts)},
		{jobenv.WorkerLog, w.LogFile},
		{jobenv.TorchLocalRank, strconv.Itoa(local)},
		{jobenv.TorchLocalWorldSize, strconv.Itoa(cfg.NProcPerNode)},
		{jobenv.MasterAddr, masterHost},
		{jobenv.MasterPort, masterPort},
		{jobenv.TorchRestarts, strconv.Itoa(restarts)},
	}
	if !p.Elastic {
		set = append(set,
			[2]string{jobenv.Rank, strconv.Itoa(w.Rank)},
			[2]string{jobenv.WorldSize, strconv.Itoa(p.MaxWorld)})
	}
	if w.Devices != "" {
		set = append(set, [2]string{jobenv.CUDAVisibleDevices, w.Devices})
	}
	if p.secret != "" {
		set = append(set, [2]string{jobenv.JobSecret, p.secret})
	}
	_, inBase := lookupEnv(p.baseEnv, jobenv.GOMAXPROCS)
	_, inExtra := lookupEnv(cfg.Env, jobenv.GOMAXPROCS)
	if !inBase && !inExtra {
		set = append(set, [2]string{jobenv.GOMAXPROCS, strconv.Itoa(workerGOMAXPROCS(cfg.NProcPerNode))})
	}

	// Drop inherited values of everything we manage; RANK and WORLD_SIZE go
	// even when elastic, so an outer launcher's values cannot leak in.
	managed := map[string]bool{jobenv.Rank: true, jobenv.WorldSize: true}
	for _, kv := range set {
		managed[kv[0]] = true
	}
	for _, kv := range cfg.Env {
		k, _, _ := strings.Cut(kv, "=")
		managed[k] = true
	}
	env := make([]string, 0, len(p.baseEnv)+len(set)+len(cfg.Env))
	for _, kv := range p.baseEnv {
		if k, _, _ := strings.Cut(kv, "="); !managed[k] {
			env = append(env, kv)
		}
	}
	for _, kv := range set {
		env = append(env, kv[0]+"="+kv[1])
	}
	// Config.Env is last and wins; keep only the last entry of a repeated key.
	last := map[string]int{}
	for i, kv := range cfg.Env {
		k, _, _ := strings.Cut(kv, "=")
		last[k] = i
	}
	for i, kv := range cfg.Env {
		k, _, _ := strings.Cut(kv, "=")
		if last[k] != i {
			continue
		}
		if managed[k] {
			env = removeKey(env, k)
		}
		env = append(env, kv)
	}
	return env
}

func removeKey(env []string, key string) []string {
	out := env[:0]
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k != key {
			out = append(out, kv)
		}
	}
	return out
}

// lookupEnv finds key in a KEY=VALUE list; the last entry wins, as in exec.
func lookupEnv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// seedsFor is the job's seeds followed by every gossip address on this node:
// a restarted worker whose own address is the job's seed (local rank 0 of
// the seed node) then rejoins through its neighbours at once, instead of
// finding only itself there, starting a cluster of one and waiting for the
// survivors' gossip to find it.
func (p *Plan) seedsFor() []string {
	seeds := append([]string(nil), p.Config.Seeds...)
	seen := map[string]bool{}
	for _, s := range seeds {
		seen[s] = true
	}
	for _, w := range p.Workers {
		if !seen[w.GossipAddr] {
			seen[w.GossipAddr] = true
			seeds = append(seeds, w.GossipAddr)
		}
	}
	return seeds
}
