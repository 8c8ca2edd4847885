package tensor

import "fmt"

// DType is the element type of a tensor. Training runs in Float32; gradient
// checks and closed-form references run in Float64.
type DType uint8

const (
	Float32 DType = iota + 1
	Float64
)

// Size returns the size of one element in bytes.
func (d DType) Size() int {
	switch d {
	case Float32:
		return 4
	case Float64:
		return 8
	}
	panic(fmt.Sprintf("tensor: invalid dtype %d", d))
}

func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Float64:
		return "float64"
	}
	return fmt.Sprintf("dtype(%d)", d)
}

// ParseDType maps "float32"/"f32" and "float64"/"f64" to a DType.
func ParseDType(s string) (DType, error) {
	switch s {
	case "float32", "f32":
		return Float32, nil
	case "float64", "f64":
		return Float64, nil
	}
	return 0, fmt.Errorf("unknown dtype %q (valid: float32, float64)", s)
}
