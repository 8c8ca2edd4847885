package trainer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fdsm-go/fdsm/data"
)

// RunConfig returns the training config recorded with the checkpoint that
// path names (a run directory: its newest checkpoint; a checkpoint
// directory; or a model file inside one) and the checkpoint directory. ok
// is false when no checkpoint records one (a bare .safetensors file):
// callers then use their own defaults.
func RunConfig(path string) (cfg Config, checkpoint string, ok bool, err error) {
	file, err := ModelFile(path)
	if err != nil {
		return Config{}, "", false, err
	}
	dir := filepath.Dir(file)
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if os.IsNotExist(err) {
		return Config{}, "", false, nil
	}
	if err != nil {
		return Config{}, "", false, err
	}
	var st trainState
	if err := json.Unmarshal(b, &st); err != nil {
		return Config{}, "", false, fmt.Errorf("%s: state.json: %w", dir, err)
	}
	return st.Config, dir, true, nil
}

// RunDir returns the run directory a checkpoint directory belongs to
// (RUN/checkpoints/step-N gives RUN), or "" when it is not inside one.
func RunDir(checkpoint string) string {
	parent := filepath.Dir(checkpoint)
	if filepath.Base(parent) != "checkpoints" {
		return ""
	}
	return filepath.Dir(parent)
}

// Source names the training data for logs: data.name, or shards:SPEC.
func (c DataConfig) Source() string {
	if c.Shards != "" {
		return "shards:" + c.Shards
	}
	return c.Name
}

// EvalData returns the dataset an evaluation of a run trained on c reads by
// default: the test split of the training set when there is one (mnist ->
// mnist-test), and its transforms without the random augmentations, which
// change what is measured (hflip).
func (c DataConfig) EvalData() (name string, transforms []string) {
	name = c.Name
	if test := strings.ToLower(name) + "-test"; slices.Contains(data.Names(), test) {
		name = test
	}
	for _, t := range c.Transforms {
		if s := strings.TrimSpace(t); s == "hflip" || strings.HasPrefix(s, "hflip:") {
			continue
		}
		transforms = append(transforms, t)
	}
	return name, transforms
}
