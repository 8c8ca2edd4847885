package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/tensor/cuda/gpu"
)

// version is set at link time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

type versionInfo struct {
	Version   string `json:"version"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	BLAS      string `json:"blas"`
	// CUDA is the GPU inventory (fdsm devices), filled for --json.
	CUDA *gpu.Inventory `json:"cuda,omitempty"`
}

func currentVersionInfo() versionInfo {
	return versionInfo{
		Version:   resolveVersion(),
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
		BLAS:      tensor.BLASName(),
	}
}

func (v versionInfo) String() string {
	return fmt.Sprintf("fdsm %s (%s, %s/%s, blas=%s)", v.Version, v.GoVersion, v.OS, v.Arch, v.BLAS)
}

// resolveVersion returns the link-time version, or when that was not set,
// the main module version or VCS revision recorded by the go tool.
func resolveVersion() string {
	if version != "" && version != "dev" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "dev-" + rev
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the fdsm version, Go version, platform and BLAS backend",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := currentVersionInfo()
			logger().Debug().Str("version", info.Version).Str("blas", info.BLAS).Msg("version requested")
			if asJSON {
				inv := gpu.List()
				info.CUDA = &inv
				enc := json.NewEncoder(cmd.OutOrStdout())
				return enc.Encode(info)
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), info)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as a JSON object")
	return cmd
}
