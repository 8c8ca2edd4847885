package cuda_test

import (
	"bytes"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/tensor/cuda"
	"github.com/fdsm-go/fdsm/tensor/cuda/emu"
	"github.com/fdsm-go/fdsm/tensor/cuda/kernels"
)

// paramRE matches a kernel entry and its one parameter in the PTX.
var paramRE = regexp.MustCompile(`\.visible \.entry (\w+)\(\s*\.param \.align 8 \.b8 \w+\[(\d+)\]\s*\)`)

// TestKernelABI: every kernel of the PTX takes one 8-byte-aligned struct of
// the size the Go side packs, the emulator compiled the same kernels with
// the same structs, and nothing is missing on either side.
func TestKernelABI(t *testing.T) {
	ptx := map[string]int{}
	for _, m := range cuda.Modules() {
		if bytes.IndexByte(m.PTX, 0) >= 0 {
			t.Errorf("module %s has a NUL byte", m.Name)
		}
		if !bytes.Contains(m.PTX, []byte(".target sm_80")) {
			t.Errorf("module %s is not sm_80 PTX", m.Name)
		}
		entries := regexp.MustCompile(`\.entry`).FindAll(m.PTX, -1)
		found := paramRE.FindAllSubmatch(m.PTX, -1)
		if len(found) != len(entries) {
			t.Errorf("module %s: %d entries, %d with one struct parameter", m.Name, len(entries), len(found))
		}
		for _, f := range found {
			n, _ := strconv.Atoi(string(f[2]))
			ptx[string(f[1])] = n / 8
		}
	}
	names := cuda.KernelNames()
	if got := sortedKeys(ptx); !equal(got, names) {
		t.Errorf("PTX kernels %v, Go side knows %v", got, names)
	}
	for _, name := range names {
		want, _ := cuda.KernelWords(name)
		if ptx[name] != want {
			t.Errorf("%s: PTX parameter has %d words, Go packs %d", name, ptx[name], want)
		}
		if want > 32 {
			t.Errorf("%s: %d words, the ABI allows 32", name, want)
		}
	}
	if !emu.Available {
		t.Skip("no emulator without cgo")
	}
	if got := emu.KernelNames(); !equal(got, names) {
		t.Errorf("emulator kernels %v, Go side knows %v", got, names)
	}
	for name, words := range emu.Kernels() {
		if want, _ := cuda.KernelWords(name); words != want {
			t.Errorf("%s: emulator struct has %d words, Go packs %d", name, words, want)
		}
	}
}

// TestModulesMatchSources: one PTX module per .cu source.
func TestModulesMatchSources(t *testing.T) {
	var cu []string
	for name := range kernels.Sources() {
		if n, ok := strings.CutSuffix(name, ".cu"); ok {
			cu = append(cu, n)
		}
	}
	sort.Strings(cu)
	var mods []string
	for _, m := range cuda.Modules() {
		mods = append(mods, m.Name)
	}
	if !equal(cu, mods) {
		t.Errorf("sources %v, PTX modules %v (run make kernels)", cu, mods)
	}
}

// TestOpCodes: every op of the engine has a kernel code, and codes are
// distinct (kernels/ops.h numbers them from 1 in the enums' order).
func TestOpCodes(t *testing.T) {
	for op := tensor.UnaryOp(1); op.String() != "unary?"; op++ {
		if cuda.UnaryCodes[op] == 0 {
			t.Errorf("unary %v has no kernel code", op)
		}
	}
	for op := tensor.BinaryOp(1); op.String() != "binary?"; op++ {
		if cuda.BinaryCodes[op] == 0 {
			t.Errorf("binary %v has no kernel code", op)
		}
	}
	for _, m := range []map[uint64]bool{invert(cuda.UnaryCodes), invert(cuda.BinaryCodes), invert(cuda.ReduceCodes), invert(cuda.DistCodes)} {
		for c := uint64(1); c <= uint64(len(m)); c++ {
			if !m[c] {
				t.Errorf("codes %v are not 1..%d", m, len(m))
			}
		}
	}
}

func invert[K comparable](m map[K]uint64) map[uint64]bool {
	out := map[uint64]bool{}
	for _, c := range m {
		out[c] = true
	}
	return out
}

func sortedKeys(m map[string]int) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

func equal(a, b []string) bool { return slices.Equal(a, b) }
