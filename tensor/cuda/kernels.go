package cuda

import (
	"sort"
	"strings"

	"github.com/fdsm-go/fdsm/tensor/cuda/kernels"
)

// Module is one compiled kernel source.
type Module struct {
	Name string // the source's base name, e.g. "elementwise"
	PTX  []byte // PTX text; cuModuleLoadData needs a NUL appended
}

// Modules returns the kernels' PTX modules (package kernels: built from
// kernels/*.cu by `make kernels`), sorted by name. A device loads each
// (cuModuleLoadData) and finds kernels by name.
func Modules() []Module {
	var ms []Module
	for name, data := range kernels.PTX() {
		ms = append(ms, Module{Name: name, PTX: data})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	return ms
}

// kernelWords gives, for each kernel family (the name without its _f32 or
// _f64 suffix), the words of its argument struct, in order. Pointers are
// device addresses, n* and the like int64, names in capitals float64 bits.
// The .cu sources define the structs; tests check that the count matches
// the PTX and the emulator.
var kernelWords = map[string][]string{
	"fill":            {"y", "n", "V"},
	"convert":         {"y", "x", "n"}, // convert_f32_f64: y float32 from x float64; convert_f64_f32 the converse
	"unary":           {"y", "x", "n", "op"},
	"binary":          append([]string{"y", "a", "b", "n", "op", "rank"}, axes("dim", "astride", "bstride")...),
	"scalar":          {"y", "x", "n", "op", "S", "first"},
	"reduce":          append([]string{"out", "x", "out_f32", "nout", "nred", "chunk", "nchunk", "op", "nk", "nr"}, reduceAxes()...),
	"sumsq":           {"part", "desc", "ndesc", "nchunk", "chunk"},
	"transpose":       append([]string{"y", "x", "n", "rank"}, axes("dim", "stride")...),
	"copyrows":        {"y", "x", "rows", "cols", "ystride", "xstride"},
	"im2col":          append([]string{"col", "x"}, convGeomWords...),
	"col2im":          append([]string{"dx", "col"}, convGeomWords...),
	"avgpool":         {"y", "x", "planes", "h", "w", "oh", "ow", "k", "s", "pad"},
	"avgpool_adjoint": {"dx", "gy", "planes", "h", "w", "oh", "ow", "k", "s", "pad"},
	"step_prep":       {"t", "gate", "state", "B1", "B2"},
	"adam":            {"p", "g", "m", "v", "state", "n", "LR", "B1", "B2", "EPS", "WD", "decoupled"},
	"sgd":             {"p", "g", "buf", "state", "n", "LR", "MOMENTUM", "WD"},
	"random":          {"y", "n", "seed", "stream", "offset", "kind", "A", "B", "BELOW"},
	"solve":           {"x", "a", "b", "n", "k", "lu", "rhs", "info"},
}

var convGeomWords = []string{"m", "c", "h", "w", "kh", "kw", "oh", "ow", "sh", "sw", "ph", "pw", "dh", "dw"}

// axes names the MaxDims-word arrays of a broadcast or transpose plan.
func axes(names ...string) []string {
	var w []string
	for _, n := range names {
		for i := range maxRank {
			w = append(w, n+"["+string(rune('0'+i))+"]")
		}
	}
	return w
}

// reduceAxes names the four-word arrays of a reduction plan.
func reduceAxes() []string {
	var w []string
	for _, n := range []string{"kdim", "kstride", "rdim", "rstride"} {
		for i := range maxReduceGroups {
			w = append(w, n+"["+string(rune('0'+i))+"]")
		}
	}
	return w
}

// KernelWords returns the number of argument words of a kernel (for
// example "unary_f32"), and false for an unknown name.
func KernelWords(kernel string) (int, bool) {
	w, ok := kernelWords[kernelFamily(kernel)]
	if !ok {
		return 0, false
	}
	return len(w), true
}

// KernelNames lists every kernel the modules define, sorted.
func KernelNames() []string {
	var names []string
	for fam := range kernelWords {
		if fam == "convert" {
			names = append(names, "convert_f32_f64", "convert_f64_f32")
			continue
		}
		names = append(names, fam+"_f32", fam+"_f64")
	}
	sort.Strings(names)
	return names
}

// kernelFamily strips the dtype suffix.
func kernelFamily(kernel string) string {
	if strings.HasPrefix(kernel, "convert_") {
		return "convert"
	}
	return strings.TrimSuffix(strings.TrimSuffix(kernel, "_f32"), "_f64")
}
