package safetensors

import (
	"bytes"
	"os"
	"reflect"
	"testing"
)

// FuzzRead checks that Read never panics, and that whatever it accepts
// writes back and reads again to the same tensors and metadata.
func FuzzRead(f *testing.F) {
	f.Add(golden)
	tensors, meta := sample()
	var buf bytes.Buffer
	if err := Write(&buf, tensors, meta); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(raw(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"I8","shape":[],"data_offsets":[4,5]}}`, make([]byte, 5)))
	f.Add(raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 5)))
	if b, err := os.ReadFile("testdata/torch.safetensors"); err == nil {
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Read(b)
		if err != nil {
			return
		}
		list := make([]Tensor, 0, len(file.Tensors))
		for _, name := range file.Names() {
			tt := file.Tensors[name]
			list = append(list, tt)
			if _, err := tt.Float64s(); err != nil && (tt.DType == F32 || tt.DType == F64) {
				t.Fatalf("%s: %v", name, err)
			}
		}
		var out bytes.Buffer
		if err := Write(&out, list, file.Metadata); err != nil {
			t.Fatalf("rewriting an accepted file: %v", err)
		}
		again, err := Read(out.Bytes())
		if err != nil {
			t.Fatalf("reading a rewritten file: %v", err)
		}
		if len(again.Metadata)+len(file.Metadata) > 0 && !reflect.DeepEqual(again.Metadata, file.Metadata) {
			t.Fatalf("metadata %v became %v", file.Metadata, again.Metadata)
		}
		for _, tt := range list {
			g := again.Tensors[tt.Name]
			if g.DType != tt.DType || !reflect.DeepEqual(g.Shape, tt.Shape) || !bytes.Equal(g.Data, tt.Data) {
				t.Fatalf("tensor %q changed on rewrite", tt.Name)
			}
		}
	})
}
