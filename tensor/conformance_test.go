package tensor_test

import (
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/tensor/backendtest"
)

// TestConformance runs the Backend conformance suite (tensor/backendtest)
// against the CPU backend.
func TestConformance(t *testing.T) {
	backendtest.Run(t, tensor.NewCPU())
}
