package models_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// Build a model from a YAML spec, evaluate log p~, and round-trip it through
// a safetensors checkpoint. 907 parameters: stem 4·1·9+4, block conv1
// 4·4·9, conv2 8·4·9+8, shortcut 8·4+8, head 3·(8·4·4+1).
func ExampleBuild() {
	spec, err := models.ParseSpec([]byte("kind: resnet_ebm\nin_channels: 1\nimage_size: 8\nn_chan: 4\nblocks: [{out: 8, down: true}]\n"))
	if err != nil {
		panic(err)
	}
	be := tensor.DefaultCPU()
	m, err := models.Build(spec, be, tensor.Float32, 1)
	if err != nil {
		panic(err)
	}
	tp := autodiff.NewTape(be)
	x := tp.Random(tensor.Float32, tensor.Uniform(0, 1), tensor.NewRNG(2), 3, 1, 8, 8)
	fmt.Println("log p~ shape:", m.(models.Energy).LogDensity(x).Shape(), "parameters:", models.NumParams(m))

	dir, _ := os.MkdirTemp("", "fdsm-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")
	if err := models.SaveCheckpoint(path, m, nil); err != nil {
		panic(err)
	}
	back, err := models.LoadCheckpoint(path, be, tensor.Float32)
	if err != nil {
		panic(err)
	}
	fmt.Println("reloaded:", back.Spec().Kind, models.NumParams(back))
	// Output:
	// log p~ shape: [3] parameters: 907
	// reloaded: resnet_ebm 907
}
