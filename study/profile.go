package study

import (
	"embed"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// Profile describes a machine to the cost model: its devices, the links
// between them at each level (inside a node, between nodes) and the costs of
// a step that are not the model's arithmetic. Profiles are YAML or JSON
// files (keys as the json tags); every figure should say where it comes
// from in Sources.
type Profile struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// DevicesPerNode is the number of devices (GPUs, or CPU cores where a
	// rank is one core) a node holds.
	DevicesPerNode int `json:"devices_per_node"`
	// SustainedGFLOPs is one device's sustained rate on the model's
	// arithmetic (GFLOP/s, 1e9): compute time = FLOPs / rate.
	SustainedGFLOPs float64 `json:"sustained_gflops"`
	// BackwardFraction is the share of compute spent in backward, where
	// the gradient all-reduce can overlap; default 2/3 (backward costs
	// about twice forward).
	BackwardFraction float64 `json:"backward_fraction,omitempty"`
	// Overlap says whether an all-reduce runs while backward computes. On
	// a GPU the collective has its own engine and stream; on a CPU rank
	// the ring's goroutines take the same core, so they add up.
	Overlap bool `json:"comm_overlaps_compute"`
	// Algorithm is the all-reduce: ring, tree, or auto (the faster of the
	// two per bucket, as NCCL's tuner chooses).
	Algorithm string `json:"algorithm"`
	// Intra is the link between devices of a node; Inter one device's
	// share of the network between nodes.
	Intra Link `json:"intra"`
	Inter Link `json:"inter"`
	// CallUs is a fixed cost of every collective call (launch, setup).
	CallUs float64 `json:"call_us,omitempty"`
	// DataUsPerSample is the data wait per sample a rank sees (what the
	// loader's prefetching does not hide).
	DataUsPerSample float64 `json:"data_us_per_sample,omitempty"`
	// UpdateNsPerParam is the optimizer step, clipping and bookkeeping per
	// parameter; StepOverheadMs a fixed cost per step on top.
	UpdateNsPerParam float64 `json:"update_ns_per_param,omitempty"`
	StepOverheadMs   float64 `json:"step_overhead_ms,omitempty"`
	// Sources cite every figure above (or say how it was measured).
	Sources []string `json:"sources,omitempty"`
}

// Link is an alpha-beta model of one level: a message of S bytes over one
// hop takes Alpha + S/B, where B is the level's all-reduce bus bandwidth
// (busbw as nccl-tests reports it, GB/s = 1e9 B/s).
type Link struct {
	AlphaUs  float64 `json:"alpha_us"`
	BusBWGBs float64 `json:"busbw_gbs"`
}

// Algorithms lists the values Profile.Algorithm takes.
var Algorithms = []string{"ring", "tree", "auto"}

func (p Profile) backwardFraction() float64 {
	if p.BackwardFraction <= 0 {
		return 2.0 / 3
	}
	return p.BackwardFraction
}

// Validate reports the first field out of range.
func (p Profile) Validate() error {
	switch {
	case p.Name == "":
		return errors.New("profile: no name")
	case p.DevicesPerNode < 1:
		return fmt.Errorf("profile %s: devices_per_node %d: want at least 1", p.Name, p.DevicesPerNode)
	case p.SustainedGFLOPs <= 0:
		return fmt.Errorf("profile %s: sustained_gflops must be positive", p.Name)
	case p.BackwardFraction < 0 || p.BackwardFraction > 1:
		return fmt.Errorf("profile %s: backward_fraction %g: want 0 to 1", p.Name, p.BackwardFraction)
	case !slices.Contains(Algorithms, p.Algorithm):
		return fmt.Errorf("profile %s: algorithm %q (valid: %s)", p.Name, p.Algorithm, strings.Join(Algorithms, ", "))
	case p.Intra.BusBWGBs <= 0 || p.Inter.BusBWGBs <= 0:
		return fmt.Errorf("profile %s: intra and inter busbw_gbs must be positive", p.Name)
	case p.Intra.AlphaUs < 0 || p.Inter.AlphaUs < 0 || p.CallUs < 0 || p.DataUsPerSample < 0 ||
		p.UpdateNsPerParam < 0 || p.StepOverheadMs < 0:
		return fmt.Errorf("profile %s: negative latency or cost", p.Name)
	}
	return nil
}

// ParseProfile decodes a profile from YAML or JSON; unknown keys are errors.
func ParseProfile(b []byte) (Profile, error) {
	var p Profile
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		return Profile{}, err
	}
	return p, p.Validate()
}

// LoadProfile reads a profile file, or a built-in profile by name.
func LoadProfile(name string) (Profile, error) {
	b, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) && !strings.ContainsAny(name, `/\.`) {
		b, err = builtin.ReadFile(path.Join("profiles", name+".yaml"))
		if err != nil {
			return Profile{}, fmt.Errorf("profile %q: no such file or built-in profile (built-in: %s)", name,
				strings.Join(BuiltinProfiles(), ", "))
		}
	}
	if err != nil {
		return Profile{}, fmt.Errorf("profile: %w", err)
	}
	p, err := ParseProfile(b)
	if err != nil {
		return Profile{}, fmt.Errorf("profile %s: %w", name, err)
	}
	return p, nil
}

//go:embed profiles/*.yaml
var builtin embed.FS

// BuiltinProfiles lists the embedded profiles by name.
func BuiltinProfiles() []string {
	entries, _ := builtin.ReadDir("profiles")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	return names
}
