package study

import "fmt"

// ModelRow is one modelled configuration. Times are milliseconds.
type ModelRow struct {
	Profile string `json:"profile"`
	GPUs    int    `json:"gpus"`
	// Mode is the scaling ("weak": the batch per rank fixed; "strong":
	// the global batch fixed) and the parallelism ("dp": data parallelism
	// alone; "dp-fdK": data-parallel ranks of K-device fdpar groups).
	Mode       string  `json:"mode"`
	Ms         float64 `json:"ms"`
	Efficiency float64 `json:"efficiency"` // throughput / (GPUs · one GPU's, same scaling)
	// The step's account.
	SamplesPerSec float64 `json:"samples_per_sec"`
	Ranks         int     `json:"ranks"`
	FDDevices     int     `json:"fd_devices"`
	Nodes         int     `json:"nodes"`
	BatchPerRank  float64 `json:"batch_per_rank"`
	ComputeMs     float64 `json:"compute_ms"`
	CommMs        float64 `json:"comm_ms"`
	ExposedMs     float64 `json:"exposed_comm_ms"`
	GroupMs       float64 `json:"group_ms"`
	DataMs        float64 `json:"data_ms"`
	UpdateMs      float64 `json:"update_ms"`
}

// SweepOptions choose the modelled configurations.
type SweepOptions struct {
	GPUs        []int // device counts; each fdpar group size that divides one is modelled there
	FDDevices   []int // fdpar group sizes besides 1 (those a node holds)
	GlobalBatch int   // strong scaling's; the weak one keeps the workload's batch per rank
}

// Sweep models w on p for every scaling, group size and device count.
// Efficiency is against one device with data parallelism alone, in the
// same scaling.
func (p Profile) Sweep(w Workload, o SweepOptions) ([]ModelRow, error) {
	groups := []int{1}
	for _, k := range o.FDDevices {
		if k > 1 && k <= p.DevicesPerNode && w.FDBlocks > 0 {
			groups = append(groups, k)
		}
	}
	var rows []ModelRow
	for _, scaling := range []string{"weak", "strong"} {
		base := 0.0 // one device's throughput
		for _, k := range groups {
			for _, g := range o.GPUs {
				if g%k != 0 {
					continue
				}
				batch := float64(w.Batch)
				if scaling == "strong" {
					batch = float64(o.GlobalBatch) / float64(g/k)
				}
				it, err := p.Iterate(w, Layout{GPUs: g, FDDevices: k, Batch: batch})
				if err != nil {
					return nil, err
				}
				row := rowOf(p.Name, scaling, k, g, batch, it)
				if k == 1 && g == 1 {
					base = row.SamplesPerSec
				}
				if base > 0 {
					row.Efficiency = row.SamplesPerSec / (float64(g) * base)
				}
				rows = append(rows, row)
			}
		}
	}
	return rows, nil
}

func rowOf(profile, scaling string, k, g int, batch float64, it Iteration) ModelRow {
	mode := scaling + "-dp"
	if k > 1 {
		mode += fmt.Sprintf("-fd%d", k)
	}
	return ModelRow{Profile: profile, GPUs: g, Mode: mode, Ms: it.Ms,
		SamplesPerSec: float64(it.Ranks) * batch / it.Ms * 1e3, Ranks: it.Ranks, FDDevices: k, Nodes: it.Nodes,
		BatchPerRank: batch, ComputeMs: it.ComputeMs, CommMs: it.CommMs, ExposedMs: it.ExposedMs,
		GroupMs: it.GroupMs, DataMs: it.DataMs, UpdateMs: it.UpdateMs}
}

// PowersOfTwo returns 1, 2, 4, ... up to n.
func PowersOfTwo(n int) []int {
	var out []int
	for g := 1; g <= n; g *= 2 {
		out = append(out, g)
	}
	return out
}
