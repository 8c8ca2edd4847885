package trainer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// TestConfigsValid: every experiment config loads and validates, and every
// small CPU variant trains a couple of steps end to end.
func TestConfigsValid(t *testing.T) {
	files, err := filepath.Glob("../configs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs: %v", err)
	}
	for _, f := range files {
		c, err := LoadConfig(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if testing.Short() || !strings.HasPrefix(filepath.Base(f), "small-") {
			continue
		}
		c.Steps, c.Samples.N, c.Schedule.Warmup = 2, 0, 0
		if c.Data.Dir != "" && !filepath.IsAbs(c.Data.Dir) {
			c.Data.Dir = filepath.Join("..", c.Data.Dir) // configs are written for the repository root
		}
		if c.Data.Dir != "" {
			if _, err := os.Stat(c.Data.Dir); err != nil {
				t.Logf("%s: data directory %s not here; not run", f, c.Data.Dir)
				continue
			}
		}
		if _, err := (Run{Config: c, Dir: t.TempDir(), Log: zerolog.Nop()}).Train(context.Background()); err != nil {
			if strings.Contains(err.Error(), "GoMNIST") {
				t.Logf("%s: MNIST not available: %v", f, err)
				continue
			}
			t.Errorf("%s: %v", f, err)
		}
	}
}
