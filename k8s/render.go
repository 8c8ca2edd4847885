// Package k8s holds fdsm's Kubernetes manifests (a kustomize base and its
// overlays, beside this file) and renders them the way `kubectl apply -k`
// would, decoding every object strictly into the k8s.io/api types, so that
// tests can check their wiring and run their pods as processes.
package k8s

import (
	"embed"
	"fmt"
	"io/fs"
	"path"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// tree is the kustomize tree: base/ and overlays/<name>/.
//
//go:embed base overlays
var tree embed.FS

// Overlays lists the overlays' names (cpu, gpu, nats).
func Overlays() ([]string, error) {
	ents, err := fs.ReadDir(tree, "overlays")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Render builds the named overlay in memory with kustomize's krusty API
// (no disk, no network) and decodes the result strictly.
func Render(overlay string) (*Manifests, error) {
	mem := filesys.MakeFsInMemory()
	err := fs.WalkDir(tree, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := tree.ReadFile(p)
		if err != nil {
			return err
		}
		return mem.WriteFile(path.Join("/", p), b)
	})
	if err != nil {
		return nil, err
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(mem, path.Join("/overlays", overlay))
	if err != nil {
		return nil, fmt.Errorf("kustomize build overlays/%s: %w", overlay, err)
	}
	m, err := decode(res)
	if err != nil {
		return nil, fmt.Errorf("overlays/%s: %w", overlay, err)
	}
	return m, nil
}
