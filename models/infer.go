package models

import (
	"fmt"
	"strconv"
)

// InferMLPSpec reads input_dim and hidden off layers.{i}.weight [out, in]: the
// layers must chain and the last one must have one output.
func InferMLPSpec(shapes map[string][]int) (Spec, error) {
	var outs []int
	in0 := 0
	for i := 0; ; i++ {
		w, ok := shapes["layers."+strconv.Itoa(i)+".weight"]
		if !ok {
			break
		}
		if len(w) != 2 {
			return Spec{}, fmt.Errorf("layers.%d.weight has shape %v, not [out, in]", i, w)
		}
		if i == 0 {
			in0 = w[1]
		} else if w[1] != outs[i-1] {
			return Spec{}, fmt.Errorf("layers.%d.weight has shape %v but layer %d has %d outputs", i, w, i-1, outs[i-1])
		}
		outs = append(outs, w[0])
	}
	if len(outs) == 0 {
		return Spec{}, fmt.Errorf("no layers.0.weight")
	}
	if last := outs[len(outs)-1]; last != 1 {
		return Spec{}, fmt.Errorf("the last layer has %d outputs, an mlp energy has 1", last)
	}
	hidden := outs[:len(outs)-1]
	if hidden == nil {
		hidden = []int{}
	}
	return Spec{Kind: "mlp", Options: map[string]any{"input_dim": in0, "hidden": hidden}}, nil
}
