// Package kernels holds the CUDA kernel sources (*.cu, *.h) and the PTX
// that `make kernels` builds from them with clang-14 (committed; CI fails
// when it is stale). The backend loads the PTX; the emulated device
// (tensor/cuda/emu) compiles the sources for the host and imports this
// package so that editing a source rebuilds it: the go command does not
// track what cgo files #include from outside their own directory, but it
// does track embedded files.
package kernels

import (
	"embed"
	"io/fs"
	"path"
	"strings"
)

//go:embed *.ptx
var ptx embed.FS

//go:embed *.cu *.h
var sources embed.FS

// PTX returns each module's PTX by module name (the source's base name,
// e.g. "elementwise").
func PTX() map[string][]byte { return read(ptx, ".ptx") }

// Sources returns the kernel sources by file name.
func Sources() map[string][]byte { return read(sources, "") }

func read(fsys embed.FS, trim string) map[string][]byte {
	out := make(map[string][]byte)
	err := fs.WalkDir(fsys, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := fsys.ReadFile(p)
		out[strings.TrimSuffix(path.Base(p), trim)] = data
		return err
	})
	if err != nil {
		panic(err) // the embed patterns guarantee the files
	}
	return out
}
