package bench

import "github.com/fdsm-go/fdsm/tensor"

func cpuBackend() tensor.Backend { return tensor.NewCPU() }
