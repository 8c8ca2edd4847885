package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/fdsm-go/fdsm/safetensors"
	"github.com/fdsm-go/fdsm/tensor"
)

// Buffered is implemented by models with non-trainable state that belongs
// in a checkpoint (PyTorch's buffers, e.g. running statistics). Names follow
// the same state_dict conventions as parameters and must not repeat them.
type Buffered interface {
	Buffers() map[string]*tensor.Tensor
}

// Checkpoint metadata keys. "format": "pt" is what PyTorch's safetensors
// writer records, so tools treat the file as a PyTorch state_dict.
const (
	MetaFormat = "format"
	MetaSpec   = "fdsm.spec"  // the model spec as JSON
	MetaDType  = "fdsm.dtype" // "float32" or "float64"
)

// stateEntry is one tensor of a model's state_dict.
type stateEntry struct {
	name string
	t    *tensor.Tensor
}

// stateOf lists m's parameters (in order) and then its buffers (by name).
func stateOf(m Model) ([]stateEntry, error) {
	var st []stateEntry
	seen := map[string]bool{}
	add := func(name string, t *tensor.Tensor) error {
		if seen[name] {
			return fmt.Errorf("model state names %q twice", name)
		}
		if t == nil {
			return fmt.Errorf("model state %q has no tensor", name)
		}
		seen[name] = true
		st = append(st, stateEntry{name, t})
		return nil
	}
	for _, p := range m.Params() {
		if err := add(p.Name, p.Value); err != nil {
			return nil, err
		}
	}
	if b, ok := m.(Buffered); ok {
		bufs := b.Buffers()
		names := make([]string, 0, len(bufs))
		for n := range bufs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if err := add(n, bufs[n]); err != nil {
				return nil, err
			}
		}
	}
	return st, nil
}

func fileDType(dt tensor.DType) safetensors.DType {
	if dt == tensor.Float64 {
		return safetensors.F64
	}
	return safetensors.F32
}

// SaveCheckpoint writes m's parameters and buffers to path as safetensors
// (atomically: a crash leaves the old file or the new one), each tensor in
// its own dtype, with metadata "format": "pt", the model spec and dtype,
// plus extra (which must not reuse those keys). The file loads in PyTorch
// with safetensors.torch.load_file.
func SaveCheckpoint(path string, m Model, extra map[string]string) error {
	st, err := stateOf(m)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	spec, err := json.Marshal(m.Spec())
	if err != nil {
		return fmt.Errorf("checkpoint %s: encoding spec: %w", path, err)
	}
	meta := map[string]string{MetaFormat: "pt", MetaSpec: string(spec), MetaDType: m.DType().String()}
	for k, v := range extra {
		if _, ok := meta[k]; ok {
			return fmt.Errorf("checkpoint %s: extra metadata may not set the reserved key %q", path, k)
		}
		meta[k] = v
	}
	// One staging buffer, sized for the largest tensor, serves every
	// tensor: each leaves the backend by one typed read (tensors may live
	// on a device) in its own dtype, which is the file's.
	scratch := make([]byte, maxBytes(st))
	list := make([]safetensors.Tensor, len(st))
	for i, e := range st {
		list[i] = safetensors.Tensor{Name: e.name, DType: fileDType(e.t.DType()), Shape: e.t.Shape().Clone(),
			Stream: func(w io.Writer) error {
				b := scratch[:e.t.Bytes()]
				e.t.Backend().ReadBytes(b, e.t)
				_, err := w.Write(b)
				return err
			}}
	}
	if err := safetensors.WriteFile(path, list, meta); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return nil
}

// LoadCheckpoint builds the model a checkpoint's spec describes, on backend
// be with parameters in dtype dt (0: the dtype the checkpoint was saved
// in), and loads its tensors, converting dtypes where the file's differ.
func LoadCheckpoint(path string, be tensor.Backend, dt tensor.DType) (Model, error) {
	r, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	defer r.Close()
	text, ok := r.Metadata[MetaSpec]
	if !ok {
		return nil, fmt.Errorf("checkpoint %s: no %q metadata, so the model is unknown (build the model yourself and use LoadParams)", path, MetaSpec)
	}
	var spec Spec
	if err := json.Unmarshal([]byte(text), &spec); err != nil {
		return nil, fmt.Errorf("checkpoint %s: invalid %q metadata: %v", path, MetaSpec, err)
	}
	if dt == 0 {
		if dt, err = tensor.ParseDType(r.Metadata[MetaDType]); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %q metadata: %v", path, MetaDType, err)
		}
	}
	m, err := Build(spec, be, dt, 0)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: building the model from its spec: %w", path, err)
	}
	if err := loadInto(r, m, path); err != nil {
		return nil, err
	}
	return m, nil
}

// LoadParams loads a checkpoint's tensors into an existing model, whose
// parameter and buffer names and shapes must match the file's exactly.
// A file that does not match changes nothing.
func LoadParams(path string, m Model) error {
	r, err := safetensors.Open(path)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer r.Close()
	return loadInto(r, m, path)
}

// loadInto checks every name, shape and dtype before copying anything, so
// a mismatched file leaves the model as it was.
func loadInto(r *safetensors.Reader, m Model, path string) error {
	st, err := stateOf(m)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	var problems []string
	want := map[string]bool{}
	for _, e := range st {
		want[e.name] = true
		in, ok := r.Info(e.name)
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("missing tensor %q (the model has it, the file does not)", e.name))
		case !slices.Equal(in.Shape, e.t.Shape()):
			problems = append(problems, fmt.Sprintf("tensor %q has shape %v in the file but %v in the model", e.name, in.Shape, []int(e.t.Shape())))
		case !floatDType(in.DType):
			problems = append(problems, fmt.Sprintf("tensor %q has dtype %s, not a float dtype (F32, F64, F16, BF16)", e.name, in.DType))
		}
	}
	for _, in := range r.Tensors() {
		if !want[in.Name] {
			problems = append(problems, fmt.Sprintf("unexpected tensor %q (the file has it, the model does not)", in.Name))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("checkpoint %s does not match the model: %s", path, strings.Join(problems, "; "))
	}
	// Every value is checked before any is copied in; decoding twice keeps
	// memory at one tensor (TestCheckpointStreams).
	scratch := make([]float64, maxNumel(st))
	var scratch32 []float32 // float32 tensors: the converted values for one typed write
	for _, check := range []bool{true, false} {
		for _, e := range st {
			v := scratch[:e.t.Numel()]
			if err := r.DecodeFloat64s(e.name, v); err != nil {
				return fmt.Errorf("checkpoint %s: %w", path, err)
			}
			if !check && e.t.DType() == tensor.Float64 {
				e.t.Backend().WriteFloat64s(e.t, v)
			} else if !check {
				if scratch32 == nil {
					scratch32 = make([]float32, len(scratch))
				}
				f := scratch32[:len(v)]
				for i, x := range v {
					f[i] = float32(x)
				}
				e.t.Backend().WriteFloat32s(e.t, f)
			} else if err := CheckFinite(e.name, v); err != nil {
				return fmt.Errorf("checkpoint %s: %w", path, err)
			}
		}
	}
	return nil
}

// ErrNonFinite: a checkpoint holds NaN or Inf values; loading one would
// only train or evaluate NaN.
var ErrNonFinite = errors.New("NaN or Inf values")

// CheckFinite returns an error wrapping ErrNonFinite that names the tensor
// when v holds a NaN or an Inf.
func CheckFinite(name string, v []float64) error {
	bad, first := 0, -1
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			if bad++; first < 0 {
				first = i
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("tensor %q holds %w (%d of %d, the first at flat index %d: %v)", name, ErrNonFinite, bad, len(v), first, v[first])
	}
	return nil
}

func floatDType(dt safetensors.DType) bool {
	switch dt {
	case safetensors.F32, safetensors.F64, safetensors.F16, safetensors.BF16:
		return true
	}
	return false
}

func maxNumel(st []stateEntry) int {
	n := 0
	for _, e := range st {
		n = max(n, e.t.Numel())
	}
	return n
}

func maxBytes(st []stateEntry) int {
	n := 0
	for _, e := range st {
		n = max(n, e.t.Bytes())
	}
	return n
}
