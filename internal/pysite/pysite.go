// Package pysite finds python3's site-packages directories, where pip's
// NVIDIA wheels (cuBLAS, NCCL) put the libraries fdsm loads at run time.
package pysite

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

const script = `import site
dirs = list(getattr(site, "getsitepackages", lambda: [])())
dirs.append(site.getusersitepackages())
print("\n".join(dirs))`

// Dirs asks python3 for its site-packages directories (the user's last).
// It is bounded in time: a missing or wedged python3 only costs an error.
func Dirs() ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", "-c", script)
	cmd.WaitDelay = time.Second // a child (a pyenv shim) holding stdout
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("python3: %w", err)
	}
	var dirs []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			dirs = append(dirs, l)
		}
	}
	return dirs, nil
}
