package main

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/device"
	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/tensor/cuda/gpu"
)

// devicesReport is what `fdsm devices --json` prints.
type devicesReport struct {
	CPU struct {
		Backend string `json:"backend"` // e.g. cpu/openblas
		Cores   int    `json:"cores"`
	} `json:"cpu"`
	Names []string      `json:"names"` // what --device takes
	CUDA  gpu.Inventory `json:"cuda"`
}

func newDevicesCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List the devices --device can name: the CPU, simulated devices and the GPUs (or why there are none)",
		Long: `Lists the CPU backend, the logical and simulated devices, and the NVIDIA GPUs
the CUDA backend finds (name, memory, compute capability, driver and cuBLAS
versions). Without a driver it says why CUDA is unavailable here and what was
looked for. fdsm loads libcuda and cuBLAS at run time: the same binary runs
on machines with and without GPUs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r devicesReport
			r.CPU.Backend, r.CPU.Cores = tensor.DefaultCPU().Name(), runtime.NumCPU()
			r.Names = device.Available()
			r.CUDA = gpu.List()
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(r)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "cpu      %s, %d cores (also cpu:1..%d, logical devices on the same cores)\n", r.CPU.Backend, r.CPU.Cores, device.LogicalCPUs-1)
			fmt.Fprintf(w, "devsim:N strict simulated devices 0..%d\n", device.SimDevices-1)
			if r.CUDA.Unavailable != "" {
				fmt.Fprintf(w, "cuda     unavailable: %s\n", r.CUDA.Unavailable)
			}
			if r.CUDA.DriverCUDA != "" {
				fmt.Fprintf(w, "cuda     driver for CUDA %s (%s), cuBLAS %d (%s)\n", r.CUDA.DriverCUDA, r.CUDA.DriverLibrary, r.CUDA.CUBLAS, r.CUDA.CUBLASLibrary)
			}
			for _, g := range r.CUDA.GPUs {
				fmt.Fprintf(w, "%-8s %s, %.1f GiB, compute capability %s, %d SMs, PCI %s\n", g.Device, g.Name,
					float64(g.MemoryBytes)/(1<<30), g.ComputeCapability, g.Multiprocessors, g.PCIBusID)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as a JSON object")
	return cmd
}
