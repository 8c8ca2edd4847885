package main

import (
	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/device"
	"github.com/fdsm-go/fdsm/tensor"
)

// deviceHelp is the --device flag's help, one text for every command.
const deviceHelp = "compute on this device: cpu, devsim:N (a strict simulated device; see docs/engine.md)"

// addDeviceFlag registers --device on cmd, defaulting to def.
func addDeviceFlag(cmd *cobra.Command, name *string, def string) {
	cmd.Flags().StringVar(name, "device", def, deviceHelp)
}

// openDevice opens the named device; a bad name is a usage error (exit 2)
// naming what is available.
func openDevice(name string) (tensor.Backend, error) {
	be, err := device.Open(name)
	if err != nil {
		return nil, usage(err)
	}
	return be, nil
}
