package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"unicode/utf8"
)

// Write writes tensors and metadata (may be nil) in safetensors format.
//
// The data buffer holds the tensors largest element size first, then by
// name, as the reference writer does, so that every tensor is aligned to
// its element size (the header is padded to a multiple of 8 bytes). The
// header lists "__metadata__" (when non-empty, keys sorted) and then the
// tensors in that same order. Each tensor's bytes come from Data, or from
// Stream when Data is nil.
func Write(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	order, err := layout(tensors)
	if err != nil {
		return err
	}
	hdr, err := header(order, metadata)
	if err != nil {
		return err
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hdr)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	for _, t := range order {
		want := int64(t.Numel() * t.DType.Size())
		if t.Data != nil || t.Stream == nil {
			if _, err := w.Write(t.Data); err != nil {
				return err
			}
			continue
		}
		cw := &countWriter{w: w}
		if err := t.Stream(cw); err != nil {
			return fmt.Errorf("safetensors: writing tensor %q: %w", t.Name, err)
		}
		if cw.n != want {
			return fmt.Errorf("safetensors: tensor %q streamed %d bytes, its shape %v of %s needs %d", t.Name, cw.n, t.Shape, t.DType, want)
		}
	}
	return nil
}

// WriteFile writes the file at path atomically: it writes a temporary file
// in the same directory, syncs it to disk and renames it over path, so a
// crash leaves either the old file or the complete new one.
func WriteFile(path string, tensors []Tensor, metadata map[string]string) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<18)
	if err = Write(bw, tensors, metadata); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err = tmp.Chmod(0o644); err != nil { // CreateTemp makes it 0600
		return fmt.Errorf("safetensors: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	// Sync the directory so the rename itself survives a crash; not every
	// platform supports it, so failure here is ignored.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// layout validates the tensors and returns them in data-buffer order.
func layout(tensors []Tensor) ([]Tensor, error) {
	seen := make(map[string]bool, len(tensors))
	for i := range tensors {
		t := &tensors[i]
		if t.Name == metaKey {
			return nil, fmt.Errorf("safetensors: tensor name %q is reserved", metaKey)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("safetensors: tensor %q given twice", t.Name)
		}
		seen[t.Name] = true
		if !utf8.ValidString(t.Name) {
			return nil, fmt.Errorf("safetensors: tensor name %q is not valid UTF-8", t.Name)
		}
		if t.DType.Size() == 0 {
			return nil, fmt.Errorf("safetensors: tensor %q: unknown dtype %q", t.Name, string(t.DType))
		}
		for _, d := range t.Shape {
			if d < 0 {
				return nil, fmt.Errorf("safetensors: tensor %q: negative dimension in shape %v", t.Name, t.Shape)
			}
		}
		want := t.Numel() * t.DType.Size()
		if (t.Data != nil || t.Stream == nil) && len(t.Data) != want {
			return nil, fmt.Errorf("safetensors: tensor %q has %d bytes of data, its shape %v of %s needs %d", t.Name, len(t.Data), t.Shape, t.DType, want)
		}
	}
	order := append([]Tensor(nil), tensors...)
	sort.SliceStable(order, func(i, j int) bool {
		if si, sj := order[i].DType.Size(), order[j].DType.Size(); si != sj {
			return si > sj
		}
		return order[i].Name < order[j].Name
	})
	return order, nil
}

// header returns the JSON header for tensors in order, space-padded to a
// multiple of 8 bytes.
func header(order []Tensor, metadata map[string]string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !utf8.ValidString(k) || !utf8.ValidString(metadata[k]) {
				return nil, fmt.Errorf("safetensors: metadata %q: %q is not valid UTF-8", k, metadata[k])
			}
		}
		b.WriteString(`"` + metaKey + `":{`)
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(&b, k)
			b.WriteByte(':')
			writeString(&b, metadata[k])
		}
		b.WriteByte('}')
	}
	var off int64
	for i, t := range order {
		if i > 0 || len(metadata) > 0 {
			b.WriteByte(',')
		}
		writeString(&b, t.Name)
		b.WriteString(`:{"dtype":"` + string(t.DType) + `","shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(d))
		}
		n := int64(t.Numel() * t.DType.Size())
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, off, off+n)
		off += n
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	return b.Bytes(), nil
}

// writeString writes s as a JSON string, without escaping <, > and &.
func writeString(b *bytes.Buffer, s string) {
	e := json.NewEncoder(b)
	e.SetEscapeHTML(false)
	e.Encode(s)             // a string always encodes
	b.Truncate(b.Len() - 1) // Encode's newline
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
