package data

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
)

// LoadSVHN reads an SVHN "cropped digits" MAT-file (train_32x32.mat,
// test_32x32.mat, extra_32x32.mat). X holds the images, MATLAB dimensions
// [32 32 3 N] (row, column, channel, sample; column-major), y the labels
// 1..10 with 10 meaning the digit 0. Samples have shape [3, 32, 32] with
// values in [0, 1]; labels are 0..9.
func LoadSVHN(path string) (*InMemory, error) {
	vars, err := ReadMAT(path)
	if err != nil {
		return nil, err
	}
	name := "svhn/" + strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return svhnFromMAT(vars, path, name)
}

// svhnFromMAT converts the X and y variables of an SVHN file into a dataset.
func svhnFromMAT(vars map[string]*MATArray, path, name string) (*InMemory, error) {
	x, y := vars["X"], vars["y"]
	for _, v := range []struct {
		n string
		a *MATArray
	}{{"X", x}, {"y", y}} {
		if v.a == nil {
			return nil, fmt.Errorf("%s: no variable %q (an SVHN file holds X and y)", path, v.n)
		}
		if v.a.Unsupported != "" {
			return nil, fmt.Errorf("%s: variable %q: %s", path, v.n, v.a.Unsupported)
		}
	}
	// MATLAB drops trailing singleton dimensions, so one image is [H W C].
	dims := append([]int(nil), x.Dims...)
	if len(dims) == 3 {
		dims = append(dims, 1)
	}
	if len(dims) != 4 || (dims[2] != 1 && dims[2] != 3) {
		return nil, fmt.Errorf("%s: variable \"X\" has dimensions %v, want [H W C N] with C = 1 or 3", path, x.Dims)
	}
	h, w, c, n := dims[0], dims[1], dims[2], dims[3]
	if y.Len() != n {
		return nil, fmt.Errorf("%s: variable \"X\" holds %d images but variable \"y\" holds %d labels (dimensions %v)", path, n, y.Len(), y.Dims)
	}

	labels := make([]int, n)
	for i := range labels {
		v := y.At(i)
		if v != math.Trunc(v) || v < 1 || v > 10 {
			return nil, fmt.Errorf("%s: variable \"y\" element %d: label %v not in 1..10", path, i, v)
		}
		labels[i] = int(v) % 10 // SVHN writes the digit 0 as 10
	}

	// Column-major X(r, col, ch, i) sits at r + h*(col + w*(ch + c*i)); we
	// want row-major [i, ch, r, col].
	per := c * h * w
	values := make([]float32, n*per)
	u8 := x.typ == miUINT8 // the usual storage: index the bytes directly
	for i := 0; i < n; i++ {
		for ch := 0; ch < c; ch++ {
			plane := values[i*per+ch*h*w:]
			src := h * w * (ch + c*i)
			for col := 0; col < w; col++ {
				for r := 0; r < h; r++ {
					k := src + r + h*col
					var v float32
					if u8 {
						v = float32(x.raw[k])
					} else {
						v = float32(x.At(k))
					}
					if v < 0 || v > 255 || v != v {
						return nil, fmt.Errorf("%s: variable \"X\" element %d (image %d): value %v not in 0..255", path, k, i, v)
					}
					plane[r*w+col] = v / 255
				}
			}
		}
	}
	return NewInMemory(name, []int{c, h, w}, values, labels)
}
