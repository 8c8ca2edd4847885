package trainer

import (
	"bytes"
	"strings"
	"testing"
)

// TestDevsimTrainsLikeCPU: training on the strict simulated device gives
// checkpoints byte for byte equal to the CPU's (the same kernels and Philox
// draws; only the config's device differs), for the objectives' families;
// it fails if any step reads device memory outside a declared copy, which
// devsim refuses.
func TestDevsimTrainsLikeCPU(t *testing.T) {
	for _, obj := range []string{"fd-ssm", "dsm", "ssm", "fd-dsm", "ssmvr"} {
		c := toyConfig(obj, 6)
		c.Checkpoint.Every = 3
		cpuDir, simDir := t.TempDir(), t.TempDir()
		train(t, c, cpuDir, false)
		c.Device = "devsim:1"
		train(t, c, simDir, false)
		a, b := readCheckpointFiles(t, cpuDir), readCheckpointFiles(t, simDir)
		for name, want := range a {
			got := b[name]
			if strings.HasSuffix(name, "state.json") {
				// The recorded config names the device.
				got = bytes.Replace(got, []byte(`"device": "devsim:1"`), []byte(`"device": ""`), 1)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: %s differs between cpu and devsim:1", obj, name)
			}
		}
	}
}

// TestDevsimDataParallel: two ranks on simulated devices (the gradient
// buckets leave the device for the host ring by declared copies) end where
// two CPU ranks do, byte for byte.
func TestDevsimDataParallel(t *testing.T) {
	c := ddpConfig(4, 1, 4)
	cpuDir, simDir := t.TempDir(), t.TempDir()
	trainWorld(t, c, 2, cpuDir, false)
	c.Device = "devsim:2"
	trainWorld(t, c, 2, simDir, false)
	a, b := readCheckpointFiles(t, cpuDir), readCheckpointFiles(t, simDir)
	for name, want := range a {
		got := b[name]
		if strings.HasSuffix(name, "state.json") {
			got = bytes.Replace(got, []byte(`"device": "devsim:2"`), []byte(`"device": ""`), 1)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs between cpu and devsim:2 ranks", name)
		}
	}
}
