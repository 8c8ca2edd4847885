package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"unicode/utf8"
)

// rawInfo is a tensor's header entry; pointers tell a missing field.
type rawInfo struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// parseHeader decodes and validates the header against a data buffer of
// dataLen bytes: known dtypes, non-negative shapes whose byte counts match
// the offsets, and tensors tiling the buffer exactly.
func parseHeader(hdr []byte, dataLen int64) ([]Info, map[string]string, error) {
	if !utf8.Valid(hdr) {
		return nil, nil, errors.New("header is not valid UTF-8 (corrupt or not a safetensors file)")
	}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, errors.New("header is not a JSON object (corrupt or not a safetensors file)")
	}
	var infos []Info
	var meta map[string]string
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("invalid header JSON: %v", err)
		}
		name := tok.(string) // object keys are always strings
		if seen[name] {
			return nil, nil, fmt.Errorf("header names %q twice", name)
		}
		seen[name] = true
		if name == metaKey {
			if err := dec.Decode(&meta); err != nil {
				return nil, nil, fmt.Errorf("invalid %s (want an object of strings): %v", metaKey, err)
			}
			continue
		}
		var raw rawInfo
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("tensor %q: invalid header entry: %v", name, err)
		}
		in, err := checkInfo(name, raw)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		infos = append(infos, in)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, nil, fmt.Errorf("invalid header JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, errors.New("invalid header JSON: data after the object (only space padding may follow)")
	}
	if err := checkLayout(infos, dataLen); err != nil {
		return nil, nil, err
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	return infos, meta, nil
}

func checkInfo(name string, raw rawInfo) (Info, error) {
	if raw.DType == nil || raw.Shape == nil || raw.DataOffsets == nil {
		return Info{}, errors.New(`header entry needs "dtype", "shape" and "data_offsets"`)
	}
	dt := DType(*raw.DType)
	size := int64(dt.Size())
	if size == 0 {
		return Info{}, fmt.Errorf("unknown dtype %q", *raw.DType)
	}
	in := Info{Name: name, DType: dt, Shape: make([]int, len(*raw.Shape))}
	n := int64(1)
	for i, d := range *raw.Shape {
		if d < 0 {
			return Info{}, fmt.Errorf("negative dimension in shape %v", *raw.Shape)
		}
		if d > 0 && n > math.MaxInt64/size/d {
			return Info{}, fmt.Errorf("shape %v is too large", *raw.Shape)
		}
		n *= d
		in.Shape[i] = int(d)
	}
	off := *raw.DataOffsets
	if len(off) != 2 || off[0] < 0 || off[1] < off[0] {
		return Info{}, fmt.Errorf("data_offsets %v is not a byte range [begin, end]", off)
	}
	in.Begin, in.End = off[0], off[1]
	if got := in.End - in.Begin; got != n*size {
		return Info{}, fmt.Errorf("data_offsets %v hold %d bytes, but shape %v of %s needs %d", off, got, in.Shape, dt, n*size)
	}
	return in, nil
}

// checkLayout checks that the tensors lie in the buffer and tile it.
func checkLayout(infos []Info, dataLen int64) error {
	for _, in := range infos {
		if in.End > dataLen {
			return fmt.Errorf("tensor %q ends at byte %d but the data buffer holds only %d bytes (file truncated?)", in.Name, in.End, dataLen)
		}
	}
	order := append([]Info(nil), infos...)
	sort.Slice(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if a.Begin != b.Begin {
			return a.Begin < b.Begin
		}
		if a.End != b.End {
			return a.End < b.End
		}
		return a.Name < b.Name
	})
	var end int64
	for i, in := range order {
		switch {
		case in.Begin < end:
			return fmt.Errorf("tensor %q (bytes %d-%d) overlaps tensor %q (ending at %d)", in.Name, in.Begin, in.End, order[i-1].Name, end)
		case in.Begin > end:
			return fmt.Errorf("tensor %q starts at byte %d, leaving a gap after byte %d", in.Name, in.Begin, end)
		}
		end = in.End
	}
	if end != dataLen {
		return fmt.Errorf("tensors cover %d bytes but the data buffer holds %d (trailing bytes)", end, dataLen)
	}
	return nil
}
